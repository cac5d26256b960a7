package media

import (
	"time"

	"github.com/pion/rtp"
)

// rtpCounter keeps receive statistics of one RTP stream: counts, loss from
// sequence numbers and interarrival jitter as in RFC 3550 (section 6.4.1
// and appendix A.3, A.8). Not safe for concurrent use.
type rtpCounter struct {
	clockRate float64

	packets, bytes uint64
	started        bool
	baseSeq        uint32 // extended
	maxSeq         uint32 // extended, highest seen
	cycles         uint32
	lastSeq        uint16

	jitter      float64 // in timestamp units
	lastTransit float64
	haveTransit bool
	epoch       time.Time

	rate rateMeter
}

func newRTPCounter(clockRate uint32) *rtpCounter {
	if clockRate == 0 {
		clockRate = 90000
	}
	return &rtpCounter{clockRate: float64(clockRate)}
}

// add records one packet that arrived at now.
func (c *rtpCounter) add(p *rtp.Packet, now time.Time) {
	c.packets++
	size := uint64(len(p.Payload))
	c.bytes += size
	c.rate.add(now, size)

	seq := p.SequenceNumber
	if !c.started {
		c.started = true
		c.baseSeq = uint32(seq)
		c.maxSeq = uint32(seq)
		c.lastSeq = seq
		c.epoch = now
	} else {
		delta := seq - c.lastSeq // modulo 2^16
		if delta < 0x8000 {
			if seq < c.lastSeq {
				c.cycles += 1 << 16
			}
			c.lastSeq = seq
			if ext := c.cycles | uint32(seq); ext > c.maxSeq {
				c.maxSeq = ext
			}
		}
		// else: reordered or duplicate older packet; counted as received only
	}

	// Interarrival jitter: transit = arrival (in RTP units) - RTP timestamp.
	arrival := now.Sub(c.epoch).Seconds() * c.clockRate
	transit := arrival - float64(p.Timestamp)
	if c.haveTransit {
		d := transit - c.lastTransit
		// RTP timestamps wrap at 2^32; fold the difference back.
		for d > 1<<31 {
			d -= 1 << 32
		}
		for d < -(1 << 31) {
			d += 1 << 32
		}
		if d < 0 {
			d = -d
		}
		c.jitter += (d - c.jitter) / 16
	}
	c.lastTransit = transit
	c.haveTransit = true
}

// expected is the number of packets the sender sent between the first and
// the highest sequence number seen.
func (c *rtpCounter) expected() int64 {
	if !c.started {
		return 0
	}
	return int64(c.maxSeq) - int64(c.baseSeq) + 1
}

// lost is expected minus received (negative with duplicates, as in RFC 3550).
func (c *rtpCounter) lost() int64 { return c.expected() - int64(c.packets) }

func (c *rtpCounter) lossPct() float64 {
	e := c.expected()
	if e <= 0 {
		return 0
	}
	l := c.lost()
	if l < 0 {
		l = 0
	}
	return 100 * float64(l) / float64(e)
}

func (c *rtpCounter) jitterMs() float64 { return 1000 * c.jitter / c.clockRate }

// rateMeter measures a rate over roughly the last rateWindow, from
// checkpoints taken at most every rateStep.
type rateMeter struct {
	total  uint64
	points []ratePoint
	lastAt time.Time // time of the latest add
}

type ratePoint struct {
	at    time.Time
	total uint64
}

const (
	rateWindow = 2 * time.Second
	rateStep   = 250 * time.Millisecond
)

func (m *rateMeter) add(now time.Time, n uint64) {
	m.total += n
	m.lastAt = now
	if len(m.points) == 0 {
		// The first checkpoint holds what arrived at its instant: the rate counts what
		// came after it over the time after it.
		m.points = append(m.points, ratePoint{now, m.total})
		return
	}
	if last := m.points[len(m.points)-1]; now.Sub(last.at) >= rateStep {
		m.points = append(m.points, ratePoint{now, m.total})
		// drop checkpoints older than the window, keeping one at its edge
		i := 0
		for i+1 < len(m.points) && now.Sub(m.points[i+1].at) >= rateWindow {
			i++
		}
		m.points = append(m.points[:0], m.points[i:]...)
	}
}

// perSecond is the rate between the oldest checkpoint in the window and the latest
// arrival, or now when the stream has been quiet for longer than its mean interval (so a
// stall shows as a falling rate); 0 when nothing arrived for a whole window. Ending at
// now while the stream flows would count the time since the last arrival without its
// next one: up to one interval low (3% at 15 fps over the 2 s window).
func (m *rateMeter) perSecond(now time.Time) float64 {
	if len(m.points) == 0 {
		return 0
	}
	last := m.points[len(m.points)-1]
	if now.Sub(last.at) > rateWindow || now.Sub(m.lastAt) > rateWindow {
		return 0
	}
	first := m.points[0]
	n := m.total - first.total
	end := now
	if span := m.lastAt.Sub(first.at); n > 0 && span > 0 && now.Sub(m.lastAt) <= span/time.Duration(n) {
		end = m.lastAt
	}
	dt := end.Sub(first.at).Seconds()
	if dt < 0.2 {
		return 0
	}
	return float64(n) / dt
}
