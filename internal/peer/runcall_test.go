package peer

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func testLogf(t *testing.T) func(string, ...any) {
	return func(f string, a ...any) { t.Logf(f, a...) }
}

func TestRunCallEmbedded(t *testing.T) {
	t.Parallel()
	rep, err := RunCall(context.Background(), CallConfig{
		Embedded: true, Duration: 2 * time.Second,
		Thresholds: Thresholds{MinFPS: 20, MaxLossPct: 5},
		Logf:       testLogf(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	t.Logf("%s", b)
	if !rep.Passed {
		t.Fatalf("call failed")
	}
}
