package signaltest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// jsKind is the type of a JavaScript value produced by JSON.parse.
type jsKind int

const (
	jsNull jsKind = iota
	jsBool
	jsNumber
	jsString
	jsArray
	jsObject
)

// jsValue is a value as JSON.parse builds it. A nil *jsValue is undefined. Arrays and
// objects compare by identity (pointer), as === does.
type jsValue struct {
	kind jsKind
	b    bool
	n    float64
	s    string
	arr  []*jsValue
	keys []string // insertion order of first occurrence
	obj  map[string]*jsValue
}

// get is property access on an object; anything else (or a missing key) is undefined.
func (v *jsValue) get(key string) *jsValue {
	if v == nil || v.kind != jsObject {
		return nil
	}
	return v.obj[key]
}

// jsonParse mimics JSON.parse: the whole text must be one JSON value. Numbers become
// float64 (out of range ones become ±Infinity, as in V8).
func jsonParse(text string) (*jsValue, error) {
	if !json.Valid([]byte(text)) { // JSON.parse accepts exactly the RFC 8259 grammar
		var v any
		err := json.Unmarshal([]byte(text), &v)
		return nil, fmt.Errorf("SyntaxError: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("SyntaxError: Unexpected token after JSON")
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (*jsValue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("SyntaxError: %w", err)
	}
	switch t := tok.(type) {
	case nil:
		return &jsValue{kind: jsNull}, nil
	case bool:
		return &jsValue{kind: jsBool, b: t}, nil
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("SyntaxError: %w", err)
		}
		return &jsValue{kind: jsNumber, n: f}, nil
	case string:
		return &jsValue{kind: jsString, s: t}, nil
	case json.Delim:
		switch t {
		case '[':
			v := &jsValue{kind: jsArray}
			for dec.More() {
				e, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, e)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("SyntaxError: %w", err)
			}
			return v, nil
		case '{':
			v := &jsValue{kind: jsObject, obj: map[string]*jsValue{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("SyntaxError: %w", err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("SyntaxError: object key is not a string")
				}
				e, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				if _, seen := v.obj[k]; !seen {
					v.keys = append(v.keys, k)
				}
				v.obj[k] = e // a duplicate key keeps its first position, last value wins
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("SyntaxError: %w", err)
			}
			return v, nil
		}
	}
	return nil, fmt.Errorf("SyntaxError: unexpected %v", tok)
}

// strictEqual is ===.
func strictEqual(a, b *jsValue) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case jsNull:
		return true
	case jsBool:
		return a.b == b.b
	case jsNumber:
		return a.n == b.n // -0 === 0; NaN cannot come from JSON
	case jsString:
		return a.s == b.s
	}
	return a == b // objects and arrays: identity
}

// looseEqual is == (the abstract equality of the original server's "remoteUid != uid").
func looseEqual(a, b *jsValue) bool {
	isNullish := func(v *jsValue) bool { return v == nil || v.kind == jsNull }
	if isNullish(a) || isNullish(b) {
		return isNullish(a) && isNullish(b)
	}
	if a.kind == b.kind {
		return strictEqual(a, b)
	}
	if a.kind == jsBool {
		return looseEqual(&jsValue{kind: jsNumber, n: boolNumber(a.b)}, b)
	}
	if b.kind == jsBool {
		return looseEqual(a, &jsValue{kind: jsNumber, n: boolNumber(b.b)})
	}
	if a.kind == jsArray || a.kind == jsObject {
		return looseEqual(&jsValue{kind: jsString, s: toJSString(a)}, b)
	}
	if b.kind == jsArray || b.kind == jsObject {
		return looseEqual(a, &jsValue{kind: jsString, s: toJSString(b)})
	}
	// number and string
	if a.kind == jsString {
		a, b = b, a
	}
	n, ok := stringToNumber(b.s)
	return ok && n == a.n
}

func boolNumber(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// stringToNumber is ToNumber on a string for the cases a JSON id can produce (decimal
// literals, surrounding whitespace, the empty string as 0). Hex, binary and octal prefixes
// are accepted too; NaN reports ok=false.
func stringToNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, true
	}
	for _, p := range []struct {
		prefix string
		base   int
	}{{"0x", 16}, {"0X", 16}, {"0o", 8}, {"0O", 8}, {"0b", 2}, {"0B", 2}} {
		if strings.HasPrefix(s, p.prefix) {
			u, err := strconv.ParseUint(s[2:], p.base, 64)
			return float64(u), err == nil
		}
	}
	switch s {
	case "Infinity", "+Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	if strings.ContainsAny(s, "_xXpPnN") { // Go syntax JS does not accept (and NaN/Inf spellings)
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// toJSString is ToString for arrays and objects (used by ==).
func toJSString(v *jsValue) string {
	switch {
	case v == nil:
		return "undefined"
	case v.kind == jsNull:
		return "null"
	case v.kind == jsBool:
		return strconv.FormatBool(v.b)
	case v.kind == jsNumber:
		return jsNumberString(v.n)
	case v.kind == jsString:
		return v.s
	case v.kind == jsArray:
		parts := make([]string, len(v.arr))
		for i, e := range v.arr {
			if e != nil && e.kind != jsNull {
				parts[i] = toJSString(e)
			}
		}
		return strings.Join(parts, ",")
	}
	return "[object Object]"
}

// jsNumberString is Number.prototype.toString(10).
func jsNumberString(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest round-trip digits and the decimal exponent n (value = 0.d1d2... * 10^n).
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expPart, _ := strings.Cut(e, "e")
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
	es := "+"
	if n-1 < 0 {
		es = "-"
	}
	ev := n - 1
	if ev < 0 {
		ev = -ev
	}
	if k == 1 {
		return sign + digits + "e" + es + strconv.Itoa(ev)
	}
	return sign + digits[:1] + "." + digits[1:] + "e" + es + strconv.Itoa(ev)
}

// jsonStringify mimics JSON.stringify for values JSON.parse can produce. undefined gives
// ok=false (JSON.stringify returns undefined).
func jsonStringify(v *jsValue) (string, bool) {
	if v == nil {
		return "", false
	}
	var sb strings.Builder
	writeJS(&sb, v)
	return sb.String(), true
}

func writeJS(sb *strings.Builder, v *jsValue) {
	switch {
	case v == nil || v.kind == jsNull:
		sb.WriteString("null")
	case v.kind == jsBool:
		sb.WriteString(strconv.FormatBool(v.b))
	case v.kind == jsNumber:
		if math.IsInf(v.n, 0) || math.IsNaN(v.n) {
			sb.WriteString("null")
		} else {
			sb.WriteString(jsNumberString(v.n))
		}
	case v.kind == jsString:
		writeJSString(sb, v.s)
	case v.kind == jsArray:
		sb.WriteByte('[')
		for i, e := range v.arr {
			if i > 0 {
				sb.WriteByte(',')
			}
			writeJS(sb, e)
		}
		sb.WriteByte(']')
	default:
		sb.WriteByte('{')
		first := true
		for _, k := range jsKeyOrder(v.keys) {
			e := v.obj[k]
			if e == nil {
				continue // undefined properties are skipped
			}
			if !first {
				sb.WriteByte(',')
			}
			first = false
			writeJSString(sb, k)
			sb.WriteByte(':')
			writeJS(sb, e)
		}
		sb.WriteByte('}')
	}
}

// jsKeyOrder is the property order of a JS object: array-index keys ascending first, then
// the other keys in insertion order.
func jsKeyOrder(keys []string) []string {
	var idx, rest []string
	for _, k := range keys {
		if isArrayIndex(k) {
			idx = append(idx, k)
		} else {
			rest = append(rest, k)
		}
	}
	if len(idx) == 0 {
		return keys
	}
	sort.Slice(idx, func(i, j int) bool {
		a, _ := strconv.ParseUint(idx[i], 10, 64)
		b, _ := strconv.ParseUint(idx[j], 10, 64)
		return a < b
	})
	return append(idx, rest...)
}

func isArrayIndex(k string) bool {
	if k == "" || (len(k) > 1 && k[0] == '0') {
		return false
	}
	n, err := strconv.ParseUint(k, 10, 64)
	return err == nil && n < math.MaxUint32
}

// writeJSString escapes like JSON.stringify: quote, backslash and control characters
// only; everything else (non-ASCII, U+2028, '<') is written as is.
func writeJSString(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\b':
			sb.WriteString(`\b`)
		case '\f':
			sb.WriteString(`\f`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case '\t':
			sb.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(sb, `\u%04x`, r)
			} else {
				sb.WriteRune(r)
			}
		}
	}
	sb.WriteByte('"')
}
