package report

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

func TestMarshalJUnitCountsAndParses(t *testing.T) {
	cases := []JUnitCase{
		{Name: "caller->callee fps", Time: 1500 * time.Millisecond, Detail: "29.8 fps"},
		{Name: "callee->caller loss", Failure: "loss 12% > 5%", Detail: "packets lost 120 of 1000"},
		{Name: "relay", Skipped: "not requested"},
	}
	b, err := MarshalJUnit("rtcctl call", 3*time.Second, cases)
	if err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("output is not XML: %v\n%s", err, b)
	}
	s := doc.Suites[0]
	if s.Tests != 3 || s.Failures != 1 || s.Skipped != 1 || s.Time != "3.000" {
		t.Fatalf("suite counts = tests %d failures %d skipped %d time %s", s.Tests, s.Failures, s.Skipped, s.Time)
	}
	if s.Cases[1].Failure == nil || s.Cases[1].Failure.Message != "loss 12% > 5%" {
		t.Fatalf("failure not carried: %+v", s.Cases[1])
	}
	if s.Cases[0].ClassName != "rtcctl call" {
		t.Fatalf("classname defaults to the suite, got %q", s.Cases[0].ClassName)
	}
}

func TestPaintOnlyWhenEnabled(t *testing.T) {
	if got := Paint(false, "ok", Good...); got != "ok" {
		t.Fatalf("Paint(false) = %q, want plain text", got)
	}
	if got := Paint(true, "ok", Good...); !strings.Contains(got, "\x1b[") {
		t.Fatalf("Paint(true) = %q, want ANSI colour", got)
	}
}

func TestProgressQuiet(t *testing.T) {
	var out, errb bytes.Buffer
	s := Buffers(&out, &errb)
	s.Progressf("step %d", 1)
	s.Quiet = true
	s.Progressf("step %d", 2)
	if errb.String() != "step 1\n" || out.Len() != 0 {
		t.Fatalf("stderr %q stdout %q", errb.String(), out.String())
	}
}

func TestWriteJSONKeepsArrows(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, map[string]string{"direction": "a->b <ok>"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"a->b <ok>"`) {
		t.Fatalf("got %q", b.String())
	}
}

func TestWriteJSONIndented(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, map[string]int{"version": SchemaVersion}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "{\n  \"version\": 1\n}\n" {
		t.Fatalf("got %q", b.String())
	}
}
