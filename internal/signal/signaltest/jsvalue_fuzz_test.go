package signaltest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzJSONParse checks the stand-in's JSON.parse/JSON.stringify against encoding/json:
// it fails exactly on invalid JSON (the frames that kill the original server), and what it
// writes is valid JSON that means the same and is stable when parsed again. (With
// -fuzz, pass -fuzzminimizetime 2s: the default minimisation stalls progress for long
// stretches on a busy machine.)
func FuzzJSONParse(f *testing.F) {
	for _, s := range []string{`{"cmd":"join","roomId":1.0e2}`, `null`, `[1,{"a":"\u0041"}]`, `{"1":0,"b":1,"0":2}`, `1e400`, `"\ud800"`, `{"a":1,"a":2}`, ``, `{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		v, err := jsonParse(text)
		if (err == nil) != json.Valid([]byte(text)) {
			t.Fatalf("jsonParse(%q) error %v, json.Valid %v", text, err, json.Valid([]byte(text)))
		}
		if err != nil {
			return
		}
		out, ok := jsonStringify(v)
		if !ok || !json.Valid([]byte(out)) {
			t.Fatalf("stringify(%q) = %q, not valid JSON", text, out)
		}
		v2, err := jsonParse(out)
		if err != nil {
			t.Fatal(err)
		}
		if out2, _ := jsonStringify(v2); out2 != out {
			t.Fatalf("not stable: %q -> %q -> %q", text, out, out2)
		}
		// Same meaning as encoding/json sees it (numbers as float64; ±Inf become null).
		var a, b any
		if json.Unmarshal([]byte(text), &a) == nil && !strings.Contains(strings.ToLower(text), "e") {
			_ = json.Unmarshal([]byte(out), &b)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("meaning changed: %q -> %q", text, out)
			}
		}
	})
}
