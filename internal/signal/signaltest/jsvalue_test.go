package signaltest

import "testing"

func TestJSONStringifyLikeNode(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`{"b":1,"a":2}`, `{"b":1,"a":2}`},
		{`{"b":1,"2":0,"a":2,"1":0}`, `{"1":0,"2":0,"b":1,"a":2}`}, // index keys first
		{`{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},                   // duplicate: first position, last value
		{`[1.0, 1e2, -0, 0.1, 1e21, 1e-7, 123456789012345680000, 5e-324]`, `[1,100,0,0.1,1e+21,1e-7,123456789012345680000,5e-324]`},
		{`1e400`, `null`},
		{`"\u0041\/\u00e9<>&\u2028\u0001\n"`, "\"A/é<>&\u2028\\u0001\\n\""},
		{` { "x" : [ true , false , null ] } `, `{"x":[true,false,null]}`},
	}
	for _, tc := range tests {
		v, err := jsonParse(tc.in)
		if err != nil {
			t.Fatalf("parse %s: %v", tc.in, err)
		}
		if got, _ := jsonStringify(v); got != tc.want {
			t.Errorf("stringify(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{``, `nul`, `{"a":1`, `{} {}`, `{'a':1}`, `[1,]`} {
		if _, err := jsonParse(bad); err == nil {
			t.Errorf("jsonParse(%q) succeeded, JSON.parse throws", bad)
		}
	}
}

func TestJSEquality(t *testing.T) {
	t.Parallel()
	p := func(s string) *jsValue {
		v, err := jsonParse(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		a, b          string
		strict, loose bool
	}{
		{`100`, `100`, true, true},
		{`100`, `1.0e2`, true, true},
		{`100`, `"100"`, false, true},
		{`0`, `-0`, true, true},
		{`"a"`, `"a"`, true, true},
		{`"1"`, `true`, false, true},
		{`null`, `null`, true, true},
		{`{}`, `{}`, false, false}, // identity
		{`[1]`, `"1"`, false, true},
		{`""`, `0`, false, true},
	}
	for _, tc := range tests {
		a, b := p(tc.a), p(tc.b)
		if got := strictEqual(a, b); got != tc.strict {
			t.Errorf("%s === %s: %v, want %v", tc.a, tc.b, got, tc.strict)
		}
		if got := looseEqual(a, b); got != tc.loose {
			t.Errorf("%s == %s: %v, want %v", tc.a, tc.b, got, tc.loose)
		}
	}
	if !strictEqual(nil, nil) || strictEqual(nil, p(`null`)) || !looseEqual(nil, p(`null`)) {
		t.Error("undefined/null equality")
	}
}
