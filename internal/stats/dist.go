// Package stats holds Dist, a mergeable distribution of non-negative values (latencies,
// frame rates, bitrates, loss). Reports from separate runs (shards of a load test) carry
// their distributions in JSON, and merging them gives exactly the quantiles one run over
// all the samples would have given: percentiles are always computed from the merged data,
// never averaged.
//
// A Dist keeps every sample while it holds at most ExactLimit of them, so small runs have
// exact quantiles. Past that it switches to a log-bucketed histogram with a fixed layout
// (relative bucket width BucketGrowth-1, about 1%), so memory and JSON size stay bounded.
// The switch depends only on the total count and the bucketing only on the values, so a
// merge of parts and one run over the union end in the same state either way.
package stats

import (
	"math"
	"slices"
)

// ExactLimit is the number of samples a Dist keeps exactly before it switches to the
// histogram.
const ExactLimit = 10000

// BucketGrowth is the ratio between the upper and lower bounds of one histogram bucket. A
// quantile from the histogram is within about half of (BucketGrowth-1), i.e. 0.5%, of the
// exact value (and always within [Min, Max]).
const BucketGrowth = 1.01

// minPositive is the smallest value that gets a log bucket; smaller values (and negative
// ones, which are recorded as 0) land in the zero bucket.
const minPositive = 1e-9

var logGrowth = math.Log(BucketGrowth)

// Dist is a mergeable distribution. The zero value is an empty distribution ready to use.
// A Dist is not safe for concurrent use; guard it with a mutex or give each goroutine its
// own and Merge them.
type Dist struct {
	n        uint64
	sum      float64
	min, max float64
	// samples holds every value while n <= ExactLimit and buckets is nil.
	samples []float64
	// buckets maps a bucket index to its count once the Dist is a histogram; zero counts
	// values below minPositive.
	buckets map[int32]uint64
	zero    uint64
	sorted  bool
}

// New returns an empty distribution (the same as a zero Dist).
func New() *Dist { return &Dist{} }

// Of returns a distribution of the given values.
func Of(values ...float64) *Dist {
	d := &Dist{}
	for _, v := range values {
		d.Add(v)
	}
	return d
}

// Add records one value. NaN is ignored; negative values are recorded as 0.
func (d *Dist) Add(v float64) {
	if math.IsNaN(v) {
		return
	}
	if v < 0 {
		v = 0
	}
	if math.IsInf(v, 1) {
		v = math.MaxFloat64
	}
	if d.n == 0 || v < d.min {
		d.min = v
	}
	if d.n == 0 || v > d.max {
		d.max = v
	}
	d.n++
	d.sum += v
	if d.buckets == nil {
		d.samples = append(d.samples, v)
		d.sorted = false
		if d.n > ExactLimit {
			d.toHistogram()
		}
		return
	}
	d.addBucket(v, 1)
}

// Merge adds every sample of o to d. o is not changed.
func (d *Dist) Merge(o *Dist) {
	if o == nil || o.n == 0 {
		return
	}
	if d.n == 0 || o.min < d.min {
		d.min = o.min
	}
	if d.n == 0 || o.max > d.max {
		d.max = o.max
	}
	d.n += o.n
	d.sum += o.sum
	if d.buckets == nil && o.buckets == nil && d.n <= ExactLimit {
		d.samples = append(d.samples, o.samples...)
		d.sorted = false
		return
	}
	if d.buckets == nil {
		d.toHistogram()
	}
	if o.buckets == nil {
		for _, v := range o.samples {
			d.addBucket(v, 1)
		}
		return
	}
	d.zero += o.zero
	for k, c := range o.buckets {
		d.buckets[k] += c
	}
}

// Clone returns an independent copy of d.
func (d *Dist) Clone() *Dist {
	c := &Dist{}
	if d != nil {
		c.Merge(d)
	}
	return c
}

// Count is the number of values recorded.
func (d *Dist) Count() uint64 {
	if d == nil {
		return 0
	}
	return d.n
}

// Sum is the sum of the values recorded.
func (d *Dist) Sum() float64 {
	if d == nil {
		return 0
	}
	return d.sum
}

// Min is the smallest value recorded (0 when empty).
func (d *Dist) Min() float64 {
	if d == nil {
		return 0
	}
	return d.min
}

// Max is the largest value recorded (0 when empty).
func (d *Dist) Max() float64 {
	if d == nil {
		return 0
	}
	return d.max
}

// Mean is the arithmetic mean (0 when empty).
func (d *Dist) Mean() float64 {
	if d == nil || d.n == 0 {
		return 0
	}
	return d.sum / float64(d.n)
}

// Exact reports whether the distribution still holds every sample, so quantiles are exact.
func (d *Dist) Exact() bool { return d == nil || d.buckets == nil }

// Quantile returns the q-quantile (0 <= q <= 1) by the nearest-rank rule: the value at
// rank ceil(q*n) of the sorted samples (rank 1 for q = 0). It returns 0 when the
// distribution is empty. In histogram mode it returns the bucket's geometric midpoint,
// clamped to [Min, Max].
func (d *Dist) Quantile(q float64) float64 {
	if d == nil || d.n == 0 || math.IsNaN(q) {
		return 0
	}
	q = math.Max(0, math.Min(1, q))
	rank := uint64(math.Ceil(q * float64(d.n)))
	if rank < 1 {
		rank = 1
	}
	if rank > d.n {
		rank = d.n
	}
	if rank == 1 && q == 0 {
		return d.min
	}
	if rank == d.n {
		return d.max
	}
	if d.buckets == nil {
		if !d.sorted {
			slices.Sort(d.samples)
			d.sorted = true
		}
		return d.samples[rank-1]
	}
	if rank <= d.zero {
		return d.min
	}
	seen := d.zero
	keys := make([]int32, 0, len(d.buckets))
	for k := range d.buckets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		seen += d.buckets[k]
		if seen >= rank {
			mid := math.Exp((float64(k) + 0.5) * logGrowth)
			return math.Max(d.min, math.Min(d.max, mid))
		}
	}
	return d.max
}

// Percentile is Quantile(p/100).
func (d *Dist) Percentile(p float64) float64 { return d.Quantile(p / 100) }

func (d *Dist) toHistogram() {
	d.buckets = make(map[int32]uint64)
	d.zero = 0
	for _, v := range d.samples {
		d.addBucket(v, 1)
	}
	d.samples = nil
	d.sorted = false
}

func (d *Dist) addBucket(v float64, c uint64) {
	if v < minPositive {
		d.zero += c
		return
	}
	d.buckets[bucketOf(v)] += c
}

// bucketOf is the index k with BucketGrowth^k <= v < BucketGrowth^(k+1).
func bucketOf(v float64) int32 {
	return int32(math.Floor(math.Log(v) / logGrowth))
}
