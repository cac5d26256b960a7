package media

import (
	"math"
	"testing"
	"time"
)

// TestRateMeterUnbiased: a steady stream reads its true rate whenever it is read (between
// two arrivals), not up to one interval low; a stall shows as a falling rate, and a stream
// quiet for a whole window reads 0.
func TestRateMeterUnbiased(t *testing.T) {
	t.Parallel()
	for _, fps := range []float64{5, 15, 30, 60} {
		var m rateMeter
		t0 := time.Unix(1000, 0)
		interval := time.Duration(float64(time.Second) / fps)
		var last time.Time
		for i := range int(3 * fps) {
			last = t0.Add(time.Duration(i) * interval)
			m.add(last, 1)
		}
		for _, phase := range []float64{0, 0.25, 0.5, 0.99} {
			got := m.perSecond(last.Add(time.Duration(phase * float64(interval))))
			if math.Abs(got-fps)/fps > 0.005 {
				t.Errorf("%g fps read %.2f at %.0f%% of an interval after a frame", fps, got, phase*100)
			}
		}
		stalled := m.perSecond(last.Add(time.Second))
		if stalled >= fps*0.9 || stalled == 0 {
			t.Errorf("%g fps stalled for 1 s reads %.2f, want a lower, non-zero rate", fps, stalled)
		}
		if got := m.perSecond(last.Add(rateWindow + time.Millisecond)); got != 0 {
			t.Errorf("%g fps quiet for a whole window reads %.2f, want 0", fps, got)
		}
	}
}
