package load

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rtcctl/rtcctl/internal/stats"
)

// Progress is the live state of a run, passed to Config.Progress.
type Progress struct {
	Elapsed time.Duration `json:"elapsed"`
	// Planned rooms of this process; Started so far; Active still running (connecting
	// plus Connected); Succeeded and Failed finished.
	Planned   int `json:"planned"`
	Started   int `json:"started"`
	Active    int `json:"active"`
	Connected int `json:"connected"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	// RxKbps is the aggregate received bitrate of connected calls (media); LossPct their
	// mean loss.
	RxKbps  float64 `json:"rx_kbps"`
	LossPct float64 `json:"loss_pct"`
	// MessagesRelayed counts relayed signaling messages so far (signal-only).
	MessagesRelayed int `json:"messages_relayed"`
}

// outcome is one finished room.
type outcome struct {
	room    Room
	ok      bool
	verdict string
	err     string
	signal  *SignalStats
	call    *CallResult
}

// collector accumulates outcomes and live state under one lock.
type collector struct {
	mu     sync.Mutex
	rep    *Report
	groups map[string]*FailureGroup
	live   map[int]LiveStatus
	active int
	// peakActive and peakConnected are the most rooms running, and connected, at once.
	peakActive, connected, peakConnected int
	started                              int
	finished                             int
	ok                                   int
	relayed                              int
	logf                                 func(string, ...any)
}

func (c *collector) add(o outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live[o.room.Index].Connected {
		c.connected--
	}
	delete(c.live, o.room.Index)
	c.active--
	c.finished++
	r := c.rep
	if o.ok {
		c.ok++
		r.Calls.Succeeded++
	} else {
		v := o.verdict
		if v == "" {
			v = "unknown"
		}
		g := c.groups[v]
		if g == nil {
			g = &FailureGroup{Verdict: v, Example: o.err}
			c.groups[v] = g
		}
		g.Count++
		if len(g.Rooms) < maxExampleRooms {
			g.Rooms = append(g.Rooms, o.room.ID)
		}
		c.logf("room %s failed: %s: %s", o.room.ID, v, o.err)
	}
	if o.signal != nil {
		r.Signal.merge(o.signal)
		c.relayed += o.signal.MessagesRelayed
	}
	if cr := o.call; cr != nil {
		addCall(r.Media, cr)
	}
}

func addCall(m *MediaStats, cr *CallResult) {
	if cr.Unreachable {
		m.Unreachable++
	}
	if cr.Decoded {
		m.Decoded++
	}
	if cr.Connected {
		if cr.Relay {
			m.Relay++
		} else {
			m.Direct++
		}
	}
	for stage, v := range map[string]*float64{StagePeer: cr.PeerKnownMs, StageICE: cr.ICEConnectedMs, StageMedia: cr.FirstFrameMs} {
		if v != nil {
			m.ConnectMs[stage].Add(*v)
		}
	}
	for _, d := range cr.Directions {
		if d.FPS != nil {
			m.FPS.Add(*d.FPS)
		}
		if d.BitrateKbps != nil {
			m.BitrateKbps.Add(*d.BitrateKbps)
			m.RxKbpsTotal += *d.BitrateKbps
		}
		if d.LossPct != nil {
			m.LossPct.Add(*d.LossPct)
		}
		if d.LatencyMs != nil {
			m.LatencyMs.Add(*d.LatencyMs)
		}
	}
}

func (c *collector) progress(start time.Time, planned int) Progress {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := Progress{
		Elapsed: time.Since(start), Planned: planned, Started: c.started, Active: c.active,
		Succeeded: c.ok, Failed: c.finished - c.ok, MessagesRelayed: c.relayed,
	}
	n := 0
	for _, s := range c.live {
		if s.Connected {
			p.Connected++
		}
		p.RxKbps += s.RxKbps
		p.LossPct += s.LossPct
		n++
	}
	if n > 0 {
		p.LossPct /= float64(n)
	}
	return p
}

func (c *collector) status(idx int) func(LiveStatus) {
	return func(s LiveStatus) {
		c.mu.Lock()
		if old, running := c.live[idx]; running {
			c.live[idx] = s
			switch {
			case s.Connected && !old.Connected:
				c.connected++
				c.peakConnected = max(c.peakConnected, c.connected)
			case !s.Connected && old.Connected:
				c.connected--
			}
		}
		c.mu.Unlock()
	}
}

// Run executes a load run and returns its report. Failed rooms are data in the report;
// Run returns an error only when the run could not happen at all (bad config). The run
// ends when every room has finished or cfg.Timeout (or ctx) expires: rooms still running
// then are cancelled and reported with verdict "timeout", rooms never started with
// "not-started". A run whose ctx is cancelled (Ctrl-C) is marked Interrupted and fails
// the "interrupted" check.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	rooms := cfg.Shard.Rooms(cfg.RoomPrefix, cfg.Rooms)
	rep := &Report{
		Version: SchemaVersion, Kind: "load", Mode: cfg.Mode, Server: cfg.Server,
		RoomPrefix: cfg.RoomPrefix, RoomsTotal: cfg.Rooms, Shards: []Shard{cfg.Shard},
		Started: cfg.Now(), DurationMs: ms(cfg.Duration), Thresholds: cfg.Thresholds,
		Calls: Counts{Planned: len(rooms)},
	}
	var sig *signalEnv
	if cfg.Mode == ModeSignal {
		rep.Signal = newSignalStats()
		var err error
		if sig, err = newSignalEnv(cfg); err != nil {
			return nil, err
		}
	} else {
		rep.Media = newMediaStats()
	}
	col := &collector{rep: rep, groups: map[string]*FailureGroup{}, live: map[int]LiveStatus{}, logf: cfg.Logf}

	start := time.Now()
	tst := startTester(ctx)
	startLag := stats.New()

	progDone := make(chan struct{})
	var progWG sync.WaitGroup
	if cfg.Progress != nil {
		progWG.Add(1)
		go func() {
			defer progWG.Done()
			tk := time.NewTicker(cfg.ProgressInterval)
			defer tk.Stop()
			for {
				select {
				case <-progDone:
					return
				case <-tk.C:
					cfg.Progress(col.progress(start, len(rooms)))
				}
			}
		}()
	}

	var wg sync.WaitGroup
	notStarted := 0
	for k, room := range rooms {
		due := start
		if cfg.Ramp > 0 {
			due = start.Add(time.Duration(float64(k) / cfg.Ramp * float64(time.Second)))
		}
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			notStarted = len(rooms) - k
			for _, r := range rooms[k:] {
				col.mu.Lock()
				col.active++ // add() decrements
				col.mu.Unlock()
				why := "the run's deadline passed before this room was due"
				if parent.Err() != nil {
					why = "the run was interrupted before this room was due"
				}
				col.add(outcome{room: r, verdict: "not-started", err: why})
			}
			break
		}
		startLag.Add(ms(time.Since(due)))
		col.mu.Lock()
		col.started++
		col.active++
		col.peakActive = max(col.peakActive, col.active)
		col.live[room.Index] = LiveStatus{}
		col.mu.Unlock()
		wg.Add(1)
		go func(room Room) {
			defer wg.Done()
			var o outcome
			if cfg.Mode == ModeSignal {
				o = sig.runRoom(ctx, room)
			} else {
				o = runMediaRoom(ctx, cfg, room, col.status(room.Index))
			}
			col.add(o)
		}(room)
	}
	wg.Wait()
	close(progDone)
	progWG.Wait()

	if sig != nil {
		rep.Signal.PeakConns = int(sig.peak.Load())
	}
	rep.Tester = tst.stop()
	rep.Tester.StartLagMs = startLag
	rep.ElapsedMs = ms(time.Since(start))
	rep.Calls.Started = len(rooms) - notStarted
	rep.Interrupted = parent.Err() != nil
	rep.Calls.PeakRunning = col.peakActive
	if rep.Media != nil {
		rep.Media.PeakConnected = col.peakConnected
	}
	for _, g := range col.groups {
		rep.Failures = append(rep.Failures, *g)
	}
	if rep.Failures == nil {
		rep.Failures = []FailureGroup{}
	}
	rep.Evaluate()
	if cfg.Progress != nil {
		cfg.Progress(col.progress(start, len(rooms)))
	}
	return rep, nil
}

// runMediaRoom runs one call through the runner, turning a panic-free runner's result
// into an outcome.
func runMediaRoom(ctx context.Context, cfg Config, room Room, status func(LiveStatus)) (o outcome) {
	// One room's bug must not end a run of thousands: a panic is that room's verdict.
	defer func() {
		if p := recover(); p != nil {
			o = outcome{room: room, verdict: "panic", err: fmt.Sprintf("runner panicked: %v", p)}
		}
	}()
	cr := cfg.Runner(ctx, room, status)
	o = outcome{room: room, ok: cr.OK, verdict: cr.Verdict, err: cr.Error, call: &cr}
	if !cr.OK && o.verdict == "" {
		o.verdict = "unknown"
	}
	if !cr.OK && ctx.Err() != nil && o.verdict == "unknown" {
		o.verdict, o.err = "timeout", fmt.Sprintf("run deadline: %v", ctx.Err())
	}
	return o
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
