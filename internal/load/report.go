package load

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rtcctl/rtcctl/internal/stats"
)

// SchemaVersion is the version of the load Report's JSON. It follows the repository-wide
// report.SchemaVersion at the command layer; Merge refuses reports of a newer version.
const SchemaVersion = 1

// Report is the result of a load run, or of merged shard runs. Every distribution carries
// its samples (or histogram) so reports merge exactly; percentiles in a merged report are
// computed from the merged distributions.
type Report struct {
	// Version is the JSON schema version.
	Version int `json:"version"`
	// Kind is always "load", so a merge tool can refuse other reports.
	Kind string `json:"kind"`
	// Mode is "signal-only" or "media".
	Mode Mode `json:"mode"`
	// Server is the signaling URL the run used.
	Server string `json:"server,omitempty"`
	// RoomPrefix starts every room id of the run.
	RoomPrefix string `json:"room_prefix"`
	// RoomsTotal is the number of rooms of the whole run over all shards.
	RoomsTotal int `json:"rooms_total"`
	// Shards lists the shards this report covers (one for a single run).
	Shards []Shard `json:"shards"`
	// Interrupted says the run was stopped from outside (Ctrl-C) before it could finish.
	Interrupted bool `json:"interrupted,omitempty"`
	// Merged is the number of reports Merge combined into this one (0: a single run).
	Merged int `json:"merged,omitempty"`
	// Started is the wall-clock start (the earliest, for a merged report); ElapsedMs the
	// wall time until the last room ended (the longest, for a merged report).
	Started   time.Time `json:"started"`
	ElapsedMs float64   `json:"elapsed_ms"`
	// DurationMs is the configured media (or hold) time per call.
	DurationMs float64 `json:"duration_ms"`
	// Calls counts rooms by outcome.
	Calls Counts `json:"calls"`
	// Failures groups failed rooms by verdict code, most frequent first.
	Failures []FailureGroup `json:"failures"`
	// Signal holds the signaling measurements (signal-only mode).
	Signal *SignalStats `json:"signal,omitempty"`
	// Media holds the call measurements (media mode).
	Media *MediaStats `json:"media,omitempty"`
	// Tester describes the load generator itself (summed over shards).
	Tester TesterStats `json:"tester"`
	// Thresholds are the limits the checks used.
	Thresholds Thresholds `json:"thresholds"`
	// Checks are the threshold checks, in a fixed order.
	Checks []Check `json:"checks"`
	// Pass is true when every check passed.
	Pass bool `json:"pass"`
}

// Counts are room outcomes.
type Counts struct {
	// Planned is the number of rooms this report covers; Started how many began (a run cut
	// short by its deadline starts fewer).
	Planned   int `json:"planned"`
	Started   int `json:"started"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	// PeakRunning is the most rooms running at once (summed over shards, which run
	// concurrently).
	PeakRunning int `json:"peak_running"`
	// SuccessPct is Succeeded / Planned in percent (rooms never started count as failed).
	SuccessPct float64 `json:"success_pct"`
}

// FailureGroup is the failed rooms sharing one verdict code.
type FailureGroup struct {
	// Verdict is the diagnosis code (media: the peer's verdict; signal-only: the stage).
	Verdict string `json:"verdict"`
	Count   int    `json:"count"`
	// Example is one room's error text, for a first look.
	Example string `json:"example,omitempty"`
	// Rooms lists up to maxExampleRooms room ids with this verdict.
	Rooms []string `json:"rooms,omitempty"`
}

// maxExampleRooms bounds FailureGroup.Rooms so a 10,000-room failure stays readable.
const maxExampleRooms = 10

// SignalStats are the signal-only measurements. Latencies are in ms.
type SignalStats struct {
	// Conns is the number of websockets opened; DialFailures how many could not be.
	Conns        int `json:"conns"`
	DialFailures int `json:"dial_failures"`
	// PeakConns is the most websockets open at once (summed over shards, which run
	// concurrently).
	PeakConns int `json:"peak_conns"`
	// MessagesSent counts relayable messages sent (offer, answer, candidate);
	// MessagesRelayed how many of them reached the other peer.
	MessagesSent    int `json:"messages_sent"`
	MessagesRelayed int `json:"messages_relayed"`
	// BytesSent is the size of every frame sent, joins and leaves included.
	BytesSent int64 `json:"bytes_sent"`
	// MessagesPerSec is MessagesRelayed over the elapsed time.
	MessagesPerSec float64 `json:"messages_per_sec"`
	// JoinMs is join -> resp-join for the second joiner of each room.
	JoinMs *stats.Dist `json:"join_ms"`
	// RelayMs is send -> receive over every relayed message; OfferMs, AnswerMs and
	// CandidateMs split it by cmd.
	RelayMs     *stats.Dist `json:"relay_ms"`
	OfferMs     *stats.Dist `json:"offer_ms"`
	AnswerMs    *stats.Dist `json:"answer_ms"`
	CandidateMs *stats.Dist `json:"candidate_ms"`
	// LeaveMs is leave -> peer-leave at the other member.
	LeaveMs *stats.Dist `json:"leave_ms"`
}

func newSignalStats() *SignalStats {
	return &SignalStats{
		JoinMs: stats.New(), RelayMs: stats.New(), OfferMs: stats.New(),
		AnswerMs: stats.New(), CandidateMs: stats.New(), LeaveMs: stats.New(),
	}
}

func (s *SignalStats) merge(o *SignalStats) {
	s.Conns += o.Conns
	s.DialFailures += o.DialFailures
	s.PeakConns += o.PeakConns
	s.MessagesSent += o.MessagesSent
	s.MessagesRelayed += o.MessagesRelayed
	s.BytesSent += o.BytesSent
	s.JoinMs.Merge(o.JoinMs)
	s.RelayMs.Merge(o.RelayMs)
	s.OfferMs.Merge(o.OfferMs)
	s.AnswerMs.Merge(o.AnswerMs)
	s.CandidateMs.Merge(o.CandidateMs)
	s.LeaveMs.Merge(o.LeaveMs)
}

// Connect stages of a media call, keys of MediaStats.ConnectMs; each is measured from the
// room's start (the caller's dial).
const (
	StagePeer   = "peer_known"    // both peers know each other (new-peer / resp-join)
	StageICE    = "ice_connected" // ICE connected
	StageMedia  = "first_frame"   // first decoded video frame (or first audio, audio-only)
	stageOrderN = 3
)

// stageOrder is the fixed order of ConnectMs in text output.
var stageOrder = [stageOrderN]string{StagePeer, StageICE, StageMedia}

// MediaStats are the media-mode measurements. Across-call distributions hold one sample
// per call direction (caller->callee and callee->caller).
type MediaStats struct {
	// Relay and Direct count connected calls by selected pair: relay (TURN) or not.
	Relay  int `json:"relay"`
	Direct int `json:"direct"`
	// Decoded counts the calls that decoded their received video (black, frozen and
	// latency checked); the others were checked at the RTP and frame level only.
	Decoded int `json:"decoded"`
	// PeakConnected is the most calls connected (media flowing) at once, as seen by the
	// live status (summed over shards).
	PeakConnected int `json:"peak_connected"`
	// RelaySharePct is Relay / (Relay + Direct) in percent.
	RelaySharePct float64 `json:"relay_share_pct"`
	// ConnectMs holds, per stage, the time from the room's start.
	ConnectMs map[string]*stats.Dist `json:"connect_ms"`
	// FPS, BitrateKbps, LossPct and LatencyMs are per received direction.
	FPS         *stats.Dist `json:"fps"`
	BitrateKbps *stats.Dist `json:"bitrate_kbps"`
	LossPct     *stats.Dist `json:"loss_pct"`
	LatencyMs   *stats.Dist `json:"latency_ms"`
	// RxKbpsTotal is the sum of every direction's received bitrate (the aggregate load).
	RxKbpsTotal float64 `json:"rx_kbps_total"`
	// Unreachable counts rooms whose signaling server could not be reached at all (dial,
	// TLS or WebSocket upgrade failed).
	Unreachable int `json:"unreachable"`
}

func newMediaStats() *MediaStats {
	m := &MediaStats{
		ConnectMs: map[string]*stats.Dist{},
		FPS:       stats.New(), BitrateKbps: stats.New(), LossPct: stats.New(), LatencyMs: stats.New(),
	}
	for _, s := range stageOrder {
		m.ConnectMs[s] = stats.New()
	}
	return m
}

func (m *MediaStats) merge(o *MediaStats) {
	m.Relay += o.Relay
	m.Direct += o.Direct
	m.Decoded += o.Decoded
	m.PeakConnected += o.PeakConnected
	for k, d := range o.ConnectMs {
		if m.ConnectMs[k] == nil {
			m.ConnectMs[k] = stats.New()
		}
		m.ConnectMs[k].Merge(d)
	}
	m.FPS.Merge(o.FPS)
	m.BitrateKbps.Merge(o.BitrateKbps)
	m.LossPct.Merge(o.LossPct)
	m.LatencyMs.Merge(o.LatencyMs)
	m.RxKbpsTotal += o.RxKbpsTotal
	m.Unreachable += o.Unreachable
}

// TesterStats describe the machine generating the load: if it is saturated, the numbers
// measure the tester, not the system under test.
type TesterStats struct {
	// Cores is the number of CPUs the tester may use (summed over shards).
	Cores int `json:"cores"`
	// CPUSeconds is user+system CPU time spent during the run.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPct is CPUSeconds over elapsed wall time, as a share of all Cores (100 = every
	// core busy the whole time). For a merged report, the highest shard's value.
	CPUPct float64 `json:"cpu_pct"`
	// MaxRSSMB is the peak resident memory (the largest shard's).
	MaxRSSMB float64 `json:"max_rss_mb"`
	// TickLagMs is how late the tester's own 50 ms ticker fired: scheduler starvation
	// (saturated when its p95 is over 50 ms; one GC pause or cgo start-up is not).
	TickLagMs *stats.Dist `json:"tick_lag_ms"`
	// StartLagMs is how late rooms started against the --ramp schedule.
	StartLagMs *stats.Dist `json:"start_lag_ms"`
	// LoadAvg1 is the machine's 1-minute load average at the end of the run (Linux; 0 when
	// unknown; the highest shard's for a merged report). Above Cores, other processes
	// compete with the tester.
	LoadAvg1 float64 `json:"load_avg_1m,omitempty"`
	// Saturated is set when CPU, tick lag or start lag says the tester was the bottleneck.
	Saturated bool `json:"saturated"`
	// Warnings say why.
	Warnings []string `json:"warnings,omitempty"`
}

// Saturation limits.
const (
	saturatedCPUPct     = 90
	saturatedTickLagMs  = 50
	saturatedStartLagMs = 1000
)

// overloadedLoadPerCore: a 1-minute load average above this many runnable tasks per core
// means other processes starve the tester.
const overloadedLoadPerCore = 2.0

func (t *TesterStats) judge() {
	t.Saturated = false
	t.Warnings = nil
	if t.CPUPct > saturatedCPUPct {
		t.Warnings = append(t.Warnings, fmt.Sprintf("tester CPU at %.0f%% of %d cores: results may measure the tester, not the server", t.CPUPct, t.Cores))
	}
	othersNamed := false
	if p := t.TickLagMs.Quantile(0.95); p > saturatedTickLagMs {
		w := fmt.Sprintf("tester ticker p95 lag %.0f ms: the tester's scheduler is starved", p)
		if t.CPUPct < saturatedCPUPct/2 && t.LoadAvg1 > float64(t.Cores) {
			w += fmt.Sprintf(" by other processes (load average %.1f on %d cores, the tester used %.0f%%)", t.LoadAvg1, t.Cores, t.CPUPct)
			othersNamed = true
		}
		t.Warnings = append(t.Warnings, w)
	}
	// A machine busy with other work slows the shared encoder and the decoders before the
	// ticker notices (seen: 30 fps calls measured at 14-20 fps at load average 8 on 2 cores).
	if !othersNamed && t.Cores > 0 && t.LoadAvg1 > overloadedLoadPerCore*float64(t.Cores) {
		t.Warnings = append(t.Warnings, fmt.Sprintf("machine overloaded: load average %.1f on %d cores (the tester used %.0f%%): other processes compete for the CPU, so frame rate, bitrate and latency may measure this machine, not the server", t.LoadAvg1, t.Cores, t.CPUPct))
	}
	if p := t.StartLagMs.Quantile(0.95); p > saturatedStartLagMs {
		t.Warnings = append(t.Warnings, fmt.Sprintf("rooms started p95 %.0f ms behind the ramp schedule", p))
	}
	t.Saturated = len(t.Warnings) > 0
}

// Check is one threshold check.
type Check struct {
	// Name identifies the check ("success", "p95_connect", "p95_loss", "p5_fps",
	// "p99_message", "interrupted", "shards").
	Name string `json:"name"`
	// Limit and Value are in the unit named by Unit.
	Limit float64 `json:"limit"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Pass  bool    `json:"pass"`
	// Detail says what was compared, in words.
	Detail string `json:"detail"`
}

// missingShards lists the shards of the run that a merged report of one run (one room
// prefix, one shard count) has no report for; nil for single runs and complete merges.
func (r *Report) missingShards() []Shard {
	if r.Merged == 0 || r.RoomPrefix == "" || len(r.Shards) == 0 {
		return nil
	}
	n := r.Shards[0].Count
	have := map[int]bool{}
	for _, sh := range r.Shards {
		if sh.Count != n {
			return nil
		}
		have[sh.Index] = true
	}
	var missing []Shard
	for i := range n {
		if !have[i] {
			missing = append(missing, Shard{Index: i, Count: n})
		}
	}
	return missing
}

// Evaluate (re)computes derived fields (success rate, shares, message rate, saturation)
// and the checks from the counts and distributions. Merge calls it on the merged report.
func (r *Report) Evaluate() {
	c := &r.Calls
	c.Failed = c.Planned - c.Succeeded
	if c.Planned > 0 {
		c.SuccessPct = 100 * float64(c.Succeeded) / float64(c.Planned)
	}
	if r.Signal != nil && r.ElapsedMs > 0 {
		r.Signal.MessagesPerSec = float64(r.Signal.MessagesRelayed) / (r.ElapsedMs / 1000)
	}
	if m := r.Media; m != nil && m.Relay+m.Direct > 0 {
		m.RelaySharePct = 100 * float64(m.Relay) / float64(m.Relay+m.Direct)
	}
	slices.SortFunc(r.Failures, func(a, b FailureGroup) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		if a.Verdict < b.Verdict {
			return -1
		}
		if a.Verdict > b.Verdict {
			return 1
		}
		return 0
	})
	r.Tester.judge()

	th := r.Thresholds
	r.Checks = []Check{{
		Name: "success", Limit: th.MinSuccessPct, Value: c.SuccessPct, Unit: "%",
		Pass:   c.SuccessPct >= th.MinSuccessPct,
		Detail: fmt.Sprintf("%d of %d rooms succeeded (need >= %g%%)", c.Succeeded, c.Planned, th.MinSuccessPct),
	}}
	if r.Interrupted {
		r.Checks = append(r.Checks, Check{
			Name: "interrupted", Limit: float64(c.Planned), Value: float64(c.Started), Unit: "rooms",
			Detail: fmt.Sprintf("the run was interrupted after %.1f s with %d of %d rooms started: the numbers describe a partial run",
				r.ElapsedMs/1000, c.Started, c.Planned),
		})
	}
	if missing := r.missingShards(); len(missing) > 0 {
		names := make([]string, len(missing))
		for i, sh := range missing {
			names[i] = sh.String()
		}
		r.Checks = append(r.Checks, Check{
			Name: "shards", Limit: float64(r.RoomsTotal), Value: float64(c.Planned), Unit: "rooms",
			Detail: fmt.Sprintf("the merged reports cover %d of the run's %d rooms: no report for shard %s",
				c.Planned, r.RoomsTotal, strings.Join(names, ", ")),
		})
	}
	if th.MaxP95ConnectMs > 0 {
		var d *stats.Dist
		what := "join -> resp-join"
		if r.Media != nil {
			d, what = r.Media.ConnectMs[StageMedia], "start -> first frame"
		} else if r.Signal != nil {
			d = r.Signal.JoinMs
		}
		v := d.Quantile(0.95)
		r.Checks = append(r.Checks, Check{
			Name: "p95_connect", Limit: th.MaxP95ConnectMs, Value: v, Unit: "ms",
			Pass:   d.Count() > 0 && v <= th.MaxP95ConnectMs,
			Detail: fmt.Sprintf("p95 %s %.0f ms over %d calls (need <= %g ms)", what, v, d.Count(), th.MaxP95ConnectMs),
		})
	}
	if r.Media != nil && th.MaxLossPct != nil {
		v := r.Media.LossPct.Quantile(0.95)
		r.Checks = append(r.Checks, Check{
			Name: "p95_loss", Limit: *th.MaxLossPct, Value: v, Unit: "%",
			Pass:   r.Media.LossPct.Count() > 0 && v <= *th.MaxLossPct,
			Detail: fmt.Sprintf("p95 packet loss across %d directions %.2f%% (need <= %g%%)", r.Media.LossPct.Count(), v, *th.MaxLossPct),
		})
	}
	if r.Media != nil && th.MinFPS > 0 {
		v := r.Media.FPS.Quantile(0.05)
		r.Checks = append(r.Checks, Check{
			Name: "p5_fps", Limit: th.MinFPS, Value: v, Unit: "fps",
			Pass:   r.Media.FPS.Count() > 0 && v >= th.MinFPS,
			Detail: fmt.Sprintf("5th percentile frame rate across %d directions %.1f fps (need >= %g)", r.Media.FPS.Count(), v, th.MinFPS),
		})
	}
	if r.Media != nil && th.MaxP95LatencyMs > 0 {
		d := r.Media.LatencyMs
		v := d.Quantile(0.95)
		detail := fmt.Sprintf("p95 video latency (capture -> decode) across %d directions %.1f ms (need <= %g ms)", d.Count(), v, th.MaxP95LatencyMs)
		if d.Count() == 0 {
			detail = "no latency samples: latency is read from decoded frames (--decode all or sample:N)"
		}
		r.Checks = append(r.Checks, Check{
			Name: "p95_latency", Limit: th.MaxP95LatencyMs, Value: v, Unit: "ms",
			Pass: d.Count() > 0 && v <= th.MaxP95LatencyMs, Detail: detail,
		})
	}
	if r.Signal != nil && th.MaxP99MessageMs > 0 {
		v := r.Signal.RelayMs.Quantile(0.99)
		r.Checks = append(r.Checks, Check{
			Name: "p99_message", Limit: th.MaxP99MessageMs, Value: v, Unit: "ms",
			Pass:   r.Signal.RelayMs.Count() > 0 && v <= th.MaxP99MessageMs,
			Detail: fmt.Sprintf("p99 relay latency over %d messages %.1f ms (need <= %g ms)", r.Signal.RelayMs.Count(), v, th.MaxP99MessageMs),
		})
	}
	r.Pass = true
	for _, ch := range r.Checks {
		r.Pass = r.Pass && ch.Pass
	}
}

// FailedChecks lists the names of failed checks.
func (r *Report) FailedChecks() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.Pass {
			out = append(out, c.Name)
		}
	}
	return out
}

// statsDist is a short local name for the distribution type.
type statsDist = stats.Dist

func newDist() *stats.Dist { return stats.New() }
