package stats

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQuantileExact(t *testing.T) {
	t.Parallel()
	oneToHundred := make([]float64, 100)
	for i := range oneToHundred {
		oneToHundred[i] = float64(100 - i) // reversed, so sorting matters
	}
	cases := []struct {
		name   string
		values []float64
		q      float64
		want   float64
	}{
		{"empty", nil, 0.5, 0},
		{"single", []float64{7}, 0.99, 7},
		{"p0 is min", oneToHundred, 0, 1},
		{"p50 of 1..100", oneToHundred, 0.50, 50},
		{"p95 of 1..100", oneToHundred, 0.95, 95},
		{"p99 of 1..100", oneToHundred, 0.99, 99},
		{"p100 is max", oneToHundred, 1, 100},
		{"p50 of four (nearest rank)", []float64{4, 1, 3, 2}, 0.5, 2},
		{"p51 of four", []float64{4, 1, 3, 2}, 0.51, 3},
		{"negative recorded as zero", []float64{-5, 1, 2}, 0, 0},
		{"q clamped above 1", []float64{1, 2, 3}, 7, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Of(c.values...)
			if got := d.Quantile(c.q); got != c.want {
				t.Fatalf("Quantile(%v) = %v, want %v", c.q, got, c.want)
			}
		})
	}
}

func TestSummaryFields(t *testing.T) {
	t.Parallel()
	d := Of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	got := d.Summary()
	want := Summary{Count: 10, Min: 1, Mean: 5.5, P5: 1, P50: 5, P90: 9, P95: 10, P99: 10, Max: 10}
	if got != want {
		t.Fatalf("Summary = %+v, want %+v", got, want)
	}
	if d.Sum() != 55 {
		t.Fatalf("Sum = %v", d.Sum())
	}
	d.Add(math.NaN())
	if d.Count() != 10 {
		t.Fatalf("NaN was counted")
	}
}

// randomSamples returns n latency-like values (log-normal around 20 ms, some zeros).
func randomSamples(seed uint64, n int) []float64 {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]float64, n)
	for i := range out {
		if r.IntN(50) == 0 {
			continue // an exact zero now and then (e.g. no loss)
		}
		out[i] = math.Exp(r.NormFloat64()*0.8 + 3)
	}
	return out
}

// TestMergeEqualsOneRun is the property shard reports rely on: merging the distributions
// of parts gives the same quantiles as one distribution over all the samples, in exact
// mode, in histogram mode, and across the switch between them.
func TestMergeEqualsOneRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		sizes []int
	}{
		{"two small parts", []int{300, 500}},
		{"parts crossing the exact limit", []int{6000, 7000}},
		{"histogram plus small part", []int{15000, 40}},
		{"small plus histogram", []int{40, 15000}},
		{"four histograms", []int{11000, 12000, 10001, 20000}},
		{"with an empty part", []int{0, 900, 0}},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			one := New()
			merged := New()
			for i, n := range c.sizes {
				part := New()
				for _, v := range randomSamples(uint64(ci*10+i+1), n) {
					part.Add(v)
					one.Add(v)
				}
				// Shards travel as JSON: merge what was decoded, not the original.
				b, err := json.Marshal(part)
				if err != nil {
					t.Fatal(err)
				}
				var back Dist
				if err := json.Unmarshal(b, &back); err != nil {
					t.Fatal(err)
				}
				merged.Merge(&back)
			}
			if merged.Count() != one.Count() || merged.Exact() != one.Exact() {
				t.Fatalf("count/exact: merged %d/%v, one run %d/%v",
					merged.Count(), merged.Exact(), one.Count(), one.Exact())
			}
			for _, q := range []float64{0, 0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
				if m, o := merged.Quantile(q), one.Quantile(q); m != o {
					t.Errorf("q%v: merged %v, one run %v", q, m, o)
				}
			}
			if merged.Min() != one.Min() || merged.Max() != one.Max() {
				t.Errorf("min/max: merged %v/%v, one run %v/%v", merged.Min(), merged.Max(), one.Min(), one.Max())
			}
			if math.Abs(merged.Mean()-one.Mean()) > 1e-9*math.Max(1, one.Mean()) {
				t.Errorf("mean: merged %v, one run %v", merged.Mean(), one.Mean())
			}
		})
	}
}

// TestHistogramAccuracy checks the histogram's promise: within 0.5% of the exact value.
func TestHistogramAccuracy(t *testing.T) {
	t.Parallel()
	values := randomSamples(42, 50000)
	d := Of(values...)
	if d.Exact() {
		t.Fatal("50000 samples should be a histogram")
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	for _, q := range []float64{0.05, 0.5, 0.9, 0.95, 0.99} {
		rank := int(math.Ceil(q * float64(len(sorted))))
		want := sorted[rank-1]
		got := d.Quantile(q)
		if want == 0 {
			if got != 0 {
				t.Errorf("q%v: got %v, want 0", q, got)
			}
			continue
		}
		if rel := math.Abs(got-want) / want; rel > 0.006 {
			t.Errorf("q%v: got %v, want %v (relative error %.4f)", q, got, want, rel)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 100, ExactLimit, ExactLimit + 1, 30000} {
		d := Of(randomSamples(uint64(n)+7, n)...)
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back Dist
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if back.Summary() != d.Summary() || back.Exact() != d.Exact() || back.Sum() != d.Sum() {
			t.Fatalf("n=%d: round trip changed the distribution:\n%+v\n%+v", n, back.Summary(), d.Summary())
		}
	}
}

func TestUnmarshalRejectsInconsistent(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"count mismatch":   `{"count":3,"min":1,"max":2,"sum":3,"samples":[1,2]}`,
		"negative sample":  `{"count":1,"min":0,"max":0,"sum":0,"samples":[-1]}`,
		"bucket sum":       `{"count":5,"min":1,"max":2,"sum":3,"format":"log1.01","buckets":[[65536,2]]}`,
		"other layout":     `{"count":2,"min":1,"max":2,"sum":3,"format":"hdr3","buckets":[[65536,2]]}`,
		"data when empty":  `{"count":0,"samples":[1]}`,
		"not an object":    `[1,2,3]`,
		"min above max":    `{"count":2,"min":5,"max":2,"sum":7,"samples":[2,5]}`,
		"min not a sample": `{"count":1,"min":0,"max":3,"sum":3,"samples":[3]}`,
		"zero count entry": `{"count":2,"min":1,"max":2,"sum":3,"format":"log1.01","buckets":[[65536,2],[65537,0]]}`,
	}
	for name, in := range cases {
		var d Dist
		if err := json.Unmarshal([]byte(in), &d); !errors.Is(err, ErrBadDist) {
			t.Errorf("%s: err = %v, want ErrBadDist", name, err)
		}
	}
}

func TestNilDist(t *testing.T) {
	t.Parallel()
	var d *Dist
	if d.Count() != 0 || d.Quantile(0.5) != 0 || d.Mean() != 0 || d.Summary() != (Summary{}) {
		t.Fatal("nil Dist should read as empty")
	}
	e := New()
	e.Merge(nil)
	if e.Count() != 0 {
		t.Fatal("merge of nil added samples")
	}
}
