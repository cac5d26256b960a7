package signal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ID is a roomId or uid exactly as it appeared on the wire. The original server compares
// these as exact JSON values, so the number 100 and the string "100" are different rooms:
// ID keeps the raw JSON text (a string or a number) and compares by it.
type ID struct {
	raw string // canonical JSON text: a quoted string or a number literal; "" when unset
}

// StringID returns an ID that encodes as a JSON string.
func StringID(s string) ID {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	return ID{raw: string(b)}
}

// NumberID returns an ID that encodes as a JSON number.
func NumberID(n int64) ID { return ID{raw: strconv.FormatInt(n, 10)} }

// ParseID turns a command-line value into an ID: a string by default (as the browser
// client sends), a number when asNumber is set and s is an integer.
func ParseID(s string, asNumber bool) (ID, error) {
	if !asNumber {
		return StringID(s), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return ID{}, fmt.Errorf("%w: %q is not an integer", ErrBadField, s)
	}
	return NumberID(n), nil
}

// IsZero reports whether the ID is unset (absent from the message).
func (id ID) IsZero() bool { return id.raw == "" }

// IsNumber reports whether the ID was a JSON number on the wire.
func (id ID) IsNumber() bool { return id.raw != "" && id.raw[0] != '"' }

// Key is the exact JSON text of the ID, suitable as a map key: "100" and 100 differ.
func (id ID) Key() string { return id.raw }

// String is the human form: the string's content, or the number's literal.
func (id ID) String() string {
	if id.raw == "" || id.raw[0] != '"' {
		return id.raw
	}
	var s string
	if err := json.Unmarshal([]byte(id.raw), &s); err != nil {
		return id.raw
	}
	return s
}

// MarshalJSON writes the ID with its original JSON type.
func (id ID) MarshalJSON() ([]byte, error) {
	if id.raw == "" {
		return []byte("null"), nil
	}
	return []byte(id.raw), nil
}

// UnmarshalJSON accepts a JSON string or number; anything else is ErrBadField.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return fmt.Errorf("%w: empty id", ErrBadField)
	}
	switch {
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%w: %v", ErrBadField, err)
		}
		*id = StringID(s) // canonical escaping, so equal strings give equal keys
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("%w: %v", ErrBadField, err)
		}
		*id = ID{raw: canonicalNumber(n)}
	case string(b) == "null":
		*id = ID{}
	default:
		return fmt.Errorf("%w: id must be a string or a number, got %.20s", ErrBadField, b)
	}
	return nil
}

// canonicalNumber normalises number literals the way the original (JavaScript) server
// re-serialises them: 1.0e2 and 100 are the same member. Integer literals that fit int64
// stay exact; other literals are formatted as JavaScript's Number.prototype.toString does
// (integers below 1e21 without exponent, "1e-7", "1.5e+300"). Out-of-range literals
// (1e400) are kept as written.
func canonicalNumber(n json.Number) string {
	if i, err := n.Int64(); err == nil {
		return strconv.FormatInt(i, 10)
	}
	f, err := n.Float64()
	if err != nil {
		return n.String()
	}
	if f == 0 {
		return "0" // also -0, as JSON.stringify writes it
	}
	if f == math.Trunc(f) && f > math.MinInt64 && f < math.MaxInt64 {
		return strconv.FormatInt(int64(f), 10)
	}
	return formatJSNumber(f)
}

// formatJSNumber is Number.prototype.toString(10) for finite non-zero f.
func formatJSNumber(f float64) string {
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest round-trip digits d1d2...dk and n with f = 0.d1d2...dk * 10^n.
	mant, expPart, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(expPart)
	k, n := len(digits), exp+1
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	e := strconv.Itoa(n - 1)
	if n-1 >= 0 {
		e = "+" + e
	}
	if k == 1 {
		return sign + digits + "e" + e
	}
	return sign + digits[:1] + "." + digits[1:] + "e" + e
}
