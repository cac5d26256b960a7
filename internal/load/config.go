package load

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for unset Config fields.
const (
	// DefaultRooms is the number of rooms (calls) when Rooms is unset.
	DefaultRooms = 10
	// DefaultRamp is the room start rate (rooms per second) when Ramp is unset.
	DefaultRamp = 10.0
	// DefaultRoomTimeout bounds one room's setup in signal-only mode: dial, join, the
	// offer/answer/candidate exchange, and again the leave.
	DefaultRoomTimeout = 15 * time.Second
	// DefaultCandidates is how many candidates each side sends in signal-only mode.
	DefaultCandidates = 10
	// DefaultProgressInterval is how often Progress is called.
	DefaultProgressInterval = time.Second
	// runSlack is added to the computed whole-run deadline (ramp + hold + room timeout).
	runSlack = 30 * time.Second
	// tickInterval is the tester's own ticker, whose lag shows a saturated tester.
	tickInterval = 50 * time.Millisecond
)

// Mode names a load test mode.
type Mode string

const (
	// ModeSignal exchanges realistic signaling only: no PeerConnections.
	ModeSignal Mode = "signal-only"
	// ModeMedia runs verified calls (two peers per room, real media).
	ModeMedia Mode = "media"
)

// Shard is this process's part of a run split over several testers: it runs the rooms
// whose global index j satisfies j % Count == Index. The zero value is "0/1" (everything).
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// ParseShard parses "i/n" with 0 <= i < n.
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("%w: shard %q is not i/n", ErrConfig, s)
	}
	idx, err1 := strconv.Atoi(strings.TrimSpace(i))
	cnt, err2 := strconv.Atoi(strings.TrimSpace(n))
	if err1 != nil || err2 != nil || cnt < 1 || idx < 0 || idx >= cnt {
		return Shard{}, fmt.Errorf("%w: shard %q: want i/n with 0 <= i < n", ErrConfig, s)
	}
	return Shard{Index: idx, Count: cnt}, nil
}

// String is "i/n".
func (s Shard) String() string {
	s = s.norm()
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

func (s Shard) norm() Shard {
	if s.Count < 1 {
		return Shard{Index: 0, Count: 1}
	}
	return s
}

// Room is one room of the run, as handed to a RoomRunner.
type Room struct {
	// Index is the global room index (unique across shards).
	Index int `json:"index"`
	// ID is the room id; CallerUID and CalleeUID the two peers' uids. All are unique to
	// the run and disjoint between shards.
	ID        string `json:"id"`
	CallerUID string `json:"caller_uid"`
	CalleeUID string `json:"callee_uid"`
}

// RoomFor builds the ids of global room index j with the run's prefix.
func RoomFor(prefix string, j int) Room {
	id := prefix + strconv.Itoa(j)
	return Room{Index: j, ID: id, CallerUID: id + "-a", CalleeUID: id + "-b"}
}

// Rooms lists the rooms of shard s in a run of total rooms.
func (s Shard) Rooms(prefix string, total int) []Room {
	s = s.norm()
	var out []Room
	for j := s.Index; j < total; j += s.Count {
		out = append(out, RoomFor(prefix, j))
	}
	return out
}

// Thresholds decide pass or fail. A zero (or nil) limit is not checked, except
// MinSuccessPct, whose zero value means DefaultMinSuccessPct.
type Thresholds struct {
	// MinSuccessPct is the lowest acceptable share of rooms that succeeded, in percent.
	MinSuccessPct float64 `json:"min_success_pct"`
	// MaxP95ConnectMs is the highest acceptable p95 time from start to connected (media:
	// first decoded frame; signal-only: join to resp-join), in ms.
	MaxP95ConnectMs float64 `json:"max_p95_connect_ms,omitempty"`
	// MaxLossPct is the highest acceptable p95 across calls of received packet loss, in
	// percent (media only). Nil: not checked.
	MaxLossPct *float64 `json:"max_loss_pct,omitempty"`
	// MinFPS is the lowest acceptable 5th percentile across calls of received frame rate
	// (media only).
	MinFPS float64 `json:"min_fps,omitempty"`
	// MaxP95LatencyMs is the highest acceptable p95 across calls of capture-to-decode
	// video latency (the frame stamps), in ms (media with decoded video only).
	MaxP95LatencyMs float64 `json:"max_p95_latency_ms,omitempty"`
	// MaxP99MessageMs is the highest acceptable p99 relay latency of signaling messages,
	// in ms (signal-only).
	MaxP99MessageMs float64 `json:"max_p99_message_ms,omitempty"`
}

// DefaultMinSuccessPct is the success threshold when none is set.
const DefaultMinSuccessPct = 99

// Config is one load run. Unset fields take the defaults named on each field.
type Config struct {
	// Server is the signaling websocket URL (ws:// or wss://). Required.
	Server string
	// CAFile trusts an extra PEM CA for wss; Insecure skips verification (signal-only;
	// the media runner carries its own).
	CAFile   string
	Insecure bool
	// Mode is ModeSignal or ModeMedia. Unset: ModeMedia.
	Mode Mode
	// Rooms is the total number of rooms (calls) of the whole run, over all shards.
	// Unset: DefaultRooms.
	Rooms int
	// Ramp is the start rate of this process, in rooms per second. Unset: DefaultRamp;
	// negative: all at once.
	Ramp float64
	// Duration is the media time per call (media), or how long each room stays joined
	// after the exchange (signal-only). Unset: 0 for signal-only; the runner's default for
	// media.
	Duration time.Duration
	// Shard selects this process's rooms. Unset: all of them.
	Shard Shard
	// RoomPrefix starts every room id. Unset: "load-" plus 6 random hex digits and "-",
	// so runs never meet stale rooms of an earlier run.
	RoomPrefix string
	// RoomTimeout bounds one room's setup in signal-only mode. Unset: DefaultRoomTimeout.
	RoomTimeout time.Duration
	// Timeout bounds the whole run. Unset: the ramp time plus Duration plus RoomTimeout
	// (media: plus the runner's own deadline, assumed 60 s) plus 30 s.
	Timeout time.Duration
	// Candidates is how many candidates each side sends in signal-only mode. Unset:
	// DefaultCandidates.
	Candidates int
	// Runner runs one media call. Required in ModeMedia.
	Runner RoomRunner
	// Thresholds decide pass or fail.
	Thresholds Thresholds
	// Progress, when set, is called every ProgressInterval with live counts. It must not
	// block for long.
	Progress         func(Progress)
	ProgressInterval time.Duration
	// Logf receives log lines (one per failed room). Unset: discarded.
	Logf func(format string, args ...any)
	// Now is the clock. Unset: time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeMedia
	}
	if c.Rooms <= 0 {
		c.Rooms = DefaultRooms
	}
	if c.Ramp == 0 {
		c.Ramp = DefaultRamp
	}
	c.Shard = c.Shard.norm()
	if c.RoomPrefix == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		c.RoomPrefix = "load-" + hex.EncodeToString(b[:]) + "-"
	}
	if c.RoomTimeout <= 0 {
		c.RoomTimeout = DefaultRoomTimeout
	}
	if c.Candidates <= 0 {
		c.Candidates = DefaultCandidates
	}
	if c.Thresholds.MinSuccessPct == 0 {
		c.Thresholds.MinSuccessPct = DefaultMinSuccessPct
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Timeout <= 0 {
		n := len(c.Shard.Rooms("", c.Rooms))
		ramp := time.Duration(0)
		if c.Ramp > 0 {
			ramp = time.Duration(float64(n) / c.Ramp * float64(time.Second))
		}
		per := c.RoomTimeout + c.Duration
		if c.Mode == ModeMedia {
			per += 60 * time.Second
		}
		c.Timeout = ramp + per + runSlack
	}
	return c
}

func (c Config) validate() error {
	if c.Mode != ModeSignal && c.Mode != ModeMedia {
		return fmt.Errorf("%w: mode %q", ErrConfig, c.Mode)
	}
	if c.Mode == ModeSignal || c.Server != "" {
		u, err := url.Parse(c.Server)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return fmt.Errorf("%w: server %q is not a ws:// or wss:// URL", ErrConfig, c.Server)
		}
	}
	if c.Mode == ModeMedia && c.Runner == nil {
		return fmt.Errorf("%w: media mode needs a room runner", ErrConfig)
	}
	if c.Shard.Count > c.Rooms {
		return fmt.Errorf("%w: %d shards for %d rooms leaves shards empty", ErrConfig, c.Shard.Count, c.Rooms)
	}
	if c.Thresholds.MinSuccessPct < 0 || c.Thresholds.MinSuccessPct > 100 {
		return fmt.Errorf("%w: min success %v%% is not a percentage", ErrConfig, c.Thresholds.MinSuccessPct)
	}
	return nil
}
