package stats

import (
	"testing"
	"time"
)

// BenchmarkDist measures the cost of recording (exact, then histogram) and of merging
// 100 shard-sized distributions, per value.
func BenchmarkDist(b *testing.B) {
	values := randomSamples(9, 1_000_000)
	var addNs, mergeNs float64
	for range b.N {
		start := time.Now()
		d := New()
		for _, v := range values {
			d.Add(v)
		}
		addNs = float64(time.Since(start).Nanoseconds()) / float64(len(values))

		parts := make([]*Dist, 100)
		for i := range parts {
			parts[i] = Of(values[i*1000 : (i+1)*1000]...)
		}
		start = time.Now()
		m := New()
		for _, p := range parts {
			m.Merge(p)
		}
		_ = m.Quantile(0.99)
		mergeNs = float64(time.Since(start).Nanoseconds()) / float64(m.Count())
	}
	b.ReportMetric(addNs, "ns/add")
	b.ReportMetric(mergeNs, "ns/merged-value")
}
