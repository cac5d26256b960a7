package stats

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrBadDist means a JSON distribution is inconsistent (counts that do not add up, a
// bucket layout from another version, negative or non-finite values).
var ErrBadDist = errors.New("stats: bad distribution")

// distFormat names the bucket layout; a reader refuses histograms of another layout, since
// merging them would silently give wrong quantiles.
const distFormat = "log1.01"

// Summary is the human- and CI-readable digest of a distribution. It is derived data: a
// Dist's JSON carries it for convenience, and it is recomputed on decode.
type Summary struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P5    float64 `json:"p5"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Summary computes the digest of d.
func (d *Dist) Summary() Summary {
	if d.Count() == 0 {
		return Summary{}
	}
	return Summary{
		Count: d.n, Min: d.min, Max: d.max, Mean: d.Mean(),
		P5: d.Quantile(0.05), P50: d.Quantile(0.50), P90: d.Quantile(0.90),
		P95: d.Quantile(0.95), P99: d.Quantile(0.99),
	}
}

// distJSON is the wire form: the summary fields first (for readers), then the data needed
// to merge: sum, and either samples or the histogram.
type distJSON struct {
	Summary
	Sum     float64     `json:"sum"`
	Samples []float64   `json:"samples,omitempty"`
	Format  string      `json:"format,omitempty"`
	Zero    uint64      `json:"zero,omitempty"`
	Buckets [][2]uint64 `json:"buckets,omitempty"` // [bucket index + offset, count]
}

// bucketOffset keeps bucket indexes non-negative on the wire (index -2083 is 1e-9).
const bucketOffset = 1 << 16

// MarshalJSON writes the summary plus the mergeable data.
func (d *Dist) MarshalJSON() ([]byte, error) {
	w := distJSON{Summary: d.Summary(), Sum: d.Sum()}
	if d != nil && d.n > 0 {
		if d.buckets == nil {
			w.Samples = slices.Clone(d.samples)
			slices.Sort(w.Samples)
		} else {
			w.Format = distFormat
			w.Zero = d.zero
			keys := make([]int32, 0, len(d.buckets))
			for k := range d.buckets {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				w.Buckets = append(w.Buckets, [2]uint64{uint64(int64(k) + bucketOffset), d.buckets[k]})
			}
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON wrote and checks it is consistent.
func (d *Dist) UnmarshalJSON(b []byte) error {
	var w distJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: %w", ErrBadDist, err)
	}
	out := Dist{}
	switch {
	case w.Count == 0:
		if len(w.Samples) > 0 || len(w.Buckets) > 0 || w.Zero > 0 {
			return fmt.Errorf("%w: count 0 with data", ErrBadDist)
		}
	case w.Buckets == nil && w.Zero == 0:
		if uint64(len(w.Samples)) != w.Count || w.Count > ExactLimit {
			return fmt.Errorf("%w: count %d but %d samples", ErrBadDist, w.Count, len(w.Samples))
		}
		for _, v := range w.Samples {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: sample %v", ErrBadDist, v)
			}
		}
		if w.Count > 0 && (slices.Min(w.Samples) != w.Min || slices.Max(w.Samples) != w.Max) {
			return fmt.Errorf("%w: min/max %v/%v do not match the samples", ErrBadDist, w.Min, w.Max)
		}
		out.samples = slices.Clone(w.Samples)
	default:
		if w.Format != distFormat {
			return fmt.Errorf("%w: histogram layout %q (want %q)", ErrBadDist, w.Format, distFormat)
		}
		if len(w.Samples) > 0 {
			return fmt.Errorf("%w: both samples and buckets", ErrBadDist)
		}
		out.buckets = make(map[int32]uint64, len(w.Buckets))
		out.zero = w.Zero
		total := w.Zero
		for _, kv := range w.Buckets {
			k := int64(kv[0]) - bucketOffset
			if k < math.MinInt32 || k > math.MaxInt32 || kv[1] == 0 {
				return fmt.Errorf("%w: bucket %v", ErrBadDist, kv)
			}
			out.buckets[int32(k)] += kv[1]
			total += kv[1]
		}
		if total != w.Count {
			return fmt.Errorf("%w: count %d but buckets hold %d", ErrBadDist, w.Count, total)
		}
	}
	if w.Count > 0 && (w.Min < 0 || w.Max < w.Min || math.IsNaN(w.Sum)) {
		return fmt.Errorf("%w: min %v max %v", ErrBadDist, w.Min, w.Max)
	}
	out.n, out.sum, out.min, out.max = w.Count, w.Sum, w.Min, w.Max
	*d = out
	return nil
}
