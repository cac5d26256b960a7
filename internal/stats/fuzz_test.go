package stats

import (
	"encoding/json"
	"testing"
)

// FuzzDistJSON: shard reports come from files; decoding any bytes must never panic, and
// whatever decodes must answer quantiles within [Min, Max] and survive a round trip.
func FuzzDistJSON(f *testing.F) {
	for _, d := range []*Dist{Of(), Of(1, 2, 3), Of(randomSamples(3, ExactLimit+5)...)} {
		b, _ := json.Marshal(d)
		f.Add(b)
	}
	f.Add([]byte(`{"count":2,"min":1,"max":2,"sum":3,"format":"log1.01","buckets":[[65536,1],[65600,1]]}`))
	f.Add([]byte(`{"count":1,"min":0,"max":1e308,"sum":1e308,"samples":[1e308]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Dist
		if err := json.Unmarshal(in, &d); err != nil {
			return
		}
		for _, q := range []float64{0, 0.5, 0.99, 1} {
			v := d.Quantile(q)
			if d.Count() > 0 && (v < d.Min() || v > d.Max()) {
				t.Fatalf("q%v = %v outside [%v, %v]", q, v, d.Min(), d.Max())
			}
		}
		b, err := json.Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		var back Dist
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("re-decoding our own output: %v\n%s", err, b)
		}
		if back.Summary() != d.Summary() {
			t.Fatalf("round trip changed the summary")
		}
	})
}
