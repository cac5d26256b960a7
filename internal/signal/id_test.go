package signal_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/rtcctl/rtcctl/internal/signal"
)

func TestIDJSONRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		out      string // MarshalJSON after UnmarshalJSON
		key      string
		str      string
		isNumber bool
	}{
		{name: "number stays a number", in: `100`, out: `100`, key: `100`, str: "100", isNumber: true},
		{name: "string stays a string", in: `"100"`, out: `"100"`, key: `"100"`, str: "100"},
		{name: "1.0e2 canonicalises to 100", in: `1.0e2`, out: `100`, key: `100`, str: "100", isNumber: true},
		{name: "1e2", in: `1e2`, out: `100`, key: `100`, str: "100", isNumber: true},
		{name: "100.000", in: `100.000`, out: `100`, key: `100`, str: "100", isNumber: true},
		{name: "negative zero is 0", in: `-0`, out: `0`, key: `0`, str: "0", isNumber: true},
		{name: "negative", in: `-42`, out: `-42`, key: `-42`, str: "-42", isNumber: true},
		{name: "fraction", in: `0.5`, out: `0.5`, key: `0.5`, str: "0.5", isNumber: true},
		{name: "1e15 as JavaScript prints it", in: `1e15`, out: `1000000000000000`, key: `1000000000000000`, str: "1000000000000000", isNumber: true},
		{name: "1e21 keeps an exponent", in: `1e21`, out: `1e+21`, key: `1e+21`, str: "1e+21", isNumber: true},
		{name: "small exponent", in: `1.5E-7`, out: `1.5e-7`, key: `1.5e-7`, str: "1.5e-7", isNumber: true},
		{name: "int64 stays exact", in: `9007199254740993`, out: `9007199254740993`, key: `9007199254740993`, str: "9007199254740993", isNumber: true},
		{name: "escape normalised", in: `"a\u0062c"`, out: `"abc"`, key: `"abc"`, str: "abc"},
		{name: "empty string is set", in: `""`, out: `""`, key: `""`, str: ""},
		{name: "unicode", in: `"房间"`, out: `"房间"`, key: `"房间"`, str: "房间"},
		{name: "spaces around", in: " 7 ", out: `7`, key: `7`, str: "7", isNumber: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var id signal.ID
			if err := json.Unmarshal([]byte(tc.in), &id); err != nil {
				t.Fatalf("Unmarshal(%s): %v", tc.in, err)
			}
			b, err := json.Marshal(id)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.out {
				t.Errorf("Marshal = %s, want %s", b, tc.out)
			}
			if id.Key() != tc.key || id.String() != tc.str || id.IsNumber() != tc.isNumber || id.IsZero() {
				t.Errorf("Key=%q String=%q IsNumber=%v IsZero=%v; want %q %q %v false",
					id.Key(), id.String(), id.IsNumber(), id.IsZero(), tc.key, tc.str, tc.isNumber)
			}
			var again signal.ID
			if err := json.Unmarshal(b, &again); err != nil || again != id {
				t.Errorf("second round trip = %q, %v; want %q", again.Key(), err, id.Key())
			}
		})
	}
}

func TestIDNumberAndStringDiffer(t *testing.T) {
	t.Parallel()
	if signal.NumberID(100) == signal.StringID("100") || signal.NumberID(100).Key() == signal.StringID("100").Key() {
		t.Fatal("100 and \"100\" must be different ids")
	}
	var a, b signal.ID
	if err := json.Unmarshal([]byte(`1.0e2`), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`100`), &b); err != nil {
		t.Fatal(err)
	}
	if a != b || a != signal.NumberID(100) {
		t.Fatalf("1.0e2 (%s) and 100 (%s) must be the same id", a.Key(), b.Key())
	}
}

func TestIDUnmarshalErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`{}`, `[]`, `[1]`, `true`, `false`, ``, `-`, `"unterminated`, `{"a":1}`} {
		var id signal.ID
		err := id.UnmarshalJSON([]byte(in))
		if !errors.Is(err, signal.ErrBadField) {
			t.Errorf("UnmarshalJSON(%q) = %v, want ErrBadField", in, err)
		}
	}
	var id signal.ID
	if err := id.UnmarshalJSON([]byte(`null`)); err != nil || !id.IsZero() {
		t.Errorf("null: err %v zero %v; want unset id", err, id.IsZero())
	}
	if b, _ := json.Marshal(id); string(b) != "null" {
		t.Errorf("unset id marshals as %s, want null", b)
	}
}

func TestParseID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		asNumber bool
		want     string // Key
		wantErr  bool
	}{
		{name: "string by default", in: "100", want: `"100"`},
		{name: "number on request", in: "100", asNumber: true, want: `100`},
		{name: "leading zeros kept as string", in: "007", want: `"007"`},
		{name: "leading zeros as number", in: "007", asNumber: true, want: `7`},
		{name: "negative number", in: "-3", asNumber: true, want: `-3`},
		{name: "quote escaped", in: `a"b`, want: `"a\"b"`},
		{name: "not an integer", in: "1.5", asNumber: true, wantErr: true},
		{name: "word as number", in: "room", asNumber: true, wantErr: true},
		{name: "too big", in: "99999999999999999999", asNumber: true, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := signal.ParseID(tc.in, tc.asNumber)
			if tc.wantErr {
				if !errors.Is(err, signal.ErrBadField) {
					t.Fatalf("ParseID(%q) = %q, %v; want ErrBadField", tc.in, id.Key(), err)
				}
				return
			}
			if err != nil || id.Key() != tc.want {
				t.Fatalf("ParseID(%q, %v) = %q, %v; want %q", tc.in, tc.asNumber, id.Key(), err, tc.want)
			}
		})
	}
}
