package peer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/signal"
)

// Run joins the room and takes part in calls until Duration passes, ctx ends, no peer
// arrives within PeerTimeout, or (with Once) the first call ends. It returns an error only
// when the session could not run at all (bad config, media source failure, signaling
// server unreachable); everything else is in the Result's verdicts.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := newSession(cfg)
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cfg.Duration, errDurationReached)
		defer cancel()
	}
	if err := s.open(ctx); err != nil {
		s.close()
		return s.finish(), err
	}
	s.run(ctx)
	s.close()
	return s.finish(), nil
}

// session is one signaling connection in one room, and its calls.
type session struct {
	cfg   Config
	start time.Time
	logs  *pionLogs
	api   *webrtc.API

	venc, aenc *media.Encoder
	cl         *signal.Client

	kick chan struct{} // PC callbacks wake the loop; capacity 1

	mu  sync.Mutex // guards res, cur and every call record
	res *Result
	cur *call
	// pendingCands are remote candidates that arrived before any call with their sender.
	pendingCands map[string][]webrtc.ICECandidateInit
	closedAt     *CloseInfo
	// stopReason says why the loop stopped waiting (stopReason* or an end reason from
	// contextEndReason); stoppedMs is when, in ms since the session start.
	stopReason string
	stoppedMs  float64
	done       chan struct{}
}

// Why a session's context ended, as its cause: a normal end is not an interruption.
var (
	// errDurationReached ends a session whose Config.Duration passed.
	errDurationReached = errors.New("duration reached")
	// errMeasured ends RunCall's sessions once the measurement window passed.
	errMeasured = errors.New("measurement done")
	// errCallTimeout ends RunCall's sessions when the whole call's Timeout passed.
	errCallTimeout = errors.New("call timeout")
)

// End reasons of a call (CallResult.EndReason) and of a session's wait for a peer
// (Evidence.WaitEnd) when the context ended rather than the call itself.
const (
	EndDuration    = "duration"     // the --duration passed: a normal end
	EndDone        = "done"         // the session closed normally (call measured, leave)
	EndCallTimeout = "call-timeout" // rtcctl call's --timeout passed
	EndCanceled    = "canceled"     // interrupted (Ctrl-C) or the caller's context ended
	EndPeerTimeout = "peer-timeout" // no peer within PeerTimeout
	EndSignalGone  = "signal-closed"
)

// contextEndReason names why ctx ended, from its cause.
func contextEndReason(ctx context.Context) string {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errDurationReached):
		return EndDuration
	case errors.Is(cause, errMeasured):
		return EndDone
	case errors.Is(cause, errCallTimeout):
		return EndCallTimeout
	default:
		return EndCanceled
	}
}

// stopped records why and when the loop stopped; the first reason wins.
func (s *session) stopped(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopReason == "" {
		s.stopReason = reason
		s.stoppedMs = s.since()
	}
}

func newSession(cfg Config) *session {
	s := &session{
		cfg:          cfg,
		start:        cfg.Now(),
		logs:         &pionLogs{logf: cfg.Logf, verbose: cfg.Verbose},
		kick:         make(chan struct{}, 1),
		pendingCands: map[string][]webrtc.ICECandidateInit{},
		done:         make(chan struct{}),
	}
	s.res = &Result{
		Server: cfg.Server, Room: cfg.Room.String(), RoomIsNumber: cfg.Room.IsNumber(),
		UID: cfg.UID.String(), Started: s.start, Calls: []*CallResult{},
	}
	if cfg.Keepalive > 0 {
		s.res.Signaling.KeepaliveMs = msOf(cfg.Keepalive)
	}
	return s
}

// since returns ms since the session start.
func (s *session) since() float64 { return msOf(s.cfg.Now().Sub(s.start)) }

func (s *session) sinceT(t time.Time) float64 { return msOf(t.Sub(s.start)) }

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mark(p **float64, v float64) {
	if *p == nil {
		*p = &v
	}
}

func (s *session) status(st Status) {
	if s.cfg.OnStatus != nil {
		s.cfg.OnStatus(st)
	}
}

func (s *session) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// open starts the media sources, dials and joins. Errors mean the session cannot run.
func (s *session) open(ctx context.Context) error {
	api, err := newAPI(s.cfg, s.logs)
	if err != nil {
		return err
	}
	s.api = api
	if s.cfg.Send.Video {
		if s.venc, err = media.AcquireVideo(s.cfg.VideoProfile, s.cfg.Logf); err != nil {
			return fmt.Errorf("%w: video: %w", ErrMedia, err)
		}
	}
	if s.cfg.Send.Audio {
		if s.aenc, err = media.AcquireAudio(s.cfg.AudioProfile, s.cfg.Logf); err != nil {
			return fmt.Errorf("%w: audio: %w", ErrMedia, err)
		}
	}
	s.status(Status{Stage: "dialing"})
	jctx, cancel := context.WithTimeout(ctx, s.cfg.JoinTimeout)
	defer cancel()
	ping, pongWait := s.cfg.Keepalive, time.Duration(0)
	if ping < 0 {
		ping = -1
	} else {
		// Declare the server dead only after a generous wait: a short keepalive is about
		// keeping proxies busy, not about failing fast on a loaded machine.
		pongWait = max(3*ping, minPongWait)
	}
	cl, err := signal.Dial(jctx, signal.ClientConfig{
		URL: s.cfg.Server, CAFile: s.cfg.CAFile, Insecure: s.cfg.Insecure, Origin: s.cfg.Origin,
		DialTimeout: s.cfg.DialTimeout, PingInterval: ping, PongTimeout: pongWait, Logf: s.cfg.Logf,
	})
	if err != nil {
		s.mu.Lock()
		s.res.Signaling.Error = err.Error()
		s.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrSignal, err)
	}
	s.cl = cl
	s.mu.Lock()
	mark(&s.res.Signaling.OpenMs, s.sinceT(cl.Opened()))
	s.mu.Unlock()
	if err := cl.Join(s.cfg.Room, s.cfg.UID); err != nil {
		s.mu.Lock()
		s.res.Signaling.Error = err.Error()
		s.mu.Unlock()
		return fmt.Errorf("%w: join: %w", ErrSignal, err)
	}
	s.mu.Lock()
	mark(&s.res.Signaling.JoinedMs, s.since())
	s.mu.Unlock()
	s.cfg.Logf("joined room %s as %s", s.cfg.Room, s.cfg.UID)
	s.status(Status{Stage: "waiting-peer"})
	return nil
}

// run is the session loop: the only goroutine that handles signaling messages and moves
// calls between stages.
func (s *session) run(ctx context.Context) {
	defer close(s.done)
	events := s.cl.Events()
	peerTimer := time.NewTimer(s.cfg.PeerTimeout)
	defer peerTimer.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastStatus := time.Time{}
	wasIdle := true
	for {
		var peerC <-chan time.Time
		s.mu.Lock()
		idle := s.cur == nil
		s.mu.Unlock()
		if idle && events == nil {
			return // signaling is gone and no call is up: nothing more can happen
		}
		if idle {
			if !wasIdle {
				// A call just ended: the wait for the next peer starts now.
				peerTimer.Reset(s.cfg.PeerTimeout)
			}
			peerC = peerTimer.C
		}
		wasIdle = idle
		select {
		case <-ctx.Done():
			reason := contextEndReason(ctx)
			s.stopped(reason)
			s.endCall(reason)
			return
		case ev, ok := <-events:
			if !ok {
				s.signalClosed()
				events = nil
				s.mu.Lock()
				idle := s.cur == nil
				s.mu.Unlock()
				if idle {
					s.stopped(EndSignalGone)
					return // nothing can happen any more
				}
				continue
			}
			if s.handle(ev.Msg) {
				return
			}
		case <-peerC:
			s.cfg.Logf("no peer within %v", s.cfg.PeerTimeout)
			s.stopped(EndPeerTimeout)
			return
		case <-s.kick:
		case <-tick.C:
		}
		if ended := s.checkStages(); ended && s.cfg.Once {
			return
		}
		if now := time.Now(); now.Sub(lastStatus) >= statusInterval {
			lastStatus = now
			s.status(s.liveStatus())
		}
	}
}

// handle processes one message; it returns true when the session must end.
func (s *session) handle(m signal.Message) bool {
	s.mu.Lock()
	if s.res.Signaling.Received == nil {
		s.res.Signaling.Received = map[string]int{}
	}
	s.res.Signaling.Received[m.Cmd]++
	s.mu.Unlock()
	switch m.Cmd {
	case signal.CmdNewPeer:
		if m.RemoteUID.IsZero() {
			s.cfg.Logf("new-peer without remoteUid; ignored")
			return false
		}
		s.cfg.Logf("new-peer %s: calling", m.RemoteUID)
		s.endCall("replaced")
		c := s.newCall("caller", m.RemoteUID)
		if err := c.startCaller(); err != nil {
			s.cfg.Logf("offer: %v", err)
			c.fail(err.Error())
		}
	case signal.CmdRespJoin:
		if m.RemoteUID.IsZero() {
			return false // some ports acknowledge a first joiner this way: nobody to call yet
		}
		s.mu.Lock()
		s.res.Signaling.JoinReply = signal.CmdRespJoin
		s.mu.Unlock()
		s.cfg.Logf("resp-join: %s is here; waiting for its offer", m.RemoteUID)
		s.mu.Lock()
		cur := s.cur
		s.mu.Unlock()
		if cur == nil || cur.remote.Key() != m.RemoteUID.Key() {
			s.endCall("replaced")
			s.newCall("callee", m.RemoteUID)
		}
	case signal.CmdOffer:
		from := m.UID
		d, err := signal.DecodeSDP(m.Msg)
		if err != nil {
			s.cfg.Logf("bad offer from %s: %v", from, err)
			return false
		}
		s.mu.Lock()
		cur := s.cur
		s.mu.Unlock()
		if cur == nil || cur.remote.Key() != from.Key() || cur.pc != nil && cur.role == "caller" {
			s.endCall("replaced")
			cur = s.newCall("callee", from)
		}
		if err := cur.answer(d); err != nil {
			s.cfg.Logf("answer: %v", err)
			cur.fail(err.Error())
		}
	case signal.CmdAnswer:
		d, err := signal.DecodeSDP(m.Msg)
		if err != nil {
			s.cfg.Logf("bad answer from %s: %v", m.UID, err)
			return false
		}
		s.mu.Lock()
		cur := s.cur
		s.mu.Unlock()
		if cur == nil || cur.remote.Key() != m.UID.Key() || cur.role != "caller" {
			s.cfg.Logf("answer from %s for no call of ours; ignored", m.UID)
			return false
		}
		if err := cur.acceptAnswer(d); err != nil {
			s.cfg.Logf("answer: %v", err)
			cur.fail(err.Error())
		}
	case signal.CmdCandidate:
		cand, err := signal.DecodeCandidate(m.Msg)
		if err != nil {
			s.cfg.Logf("bad candidate from %s: %v", m.UID, err)
			return false
		}
		if cand.Candidate == "" {
			return false // end-of-candidates
		}
		init := webrtc.ICECandidateInit{Candidate: cand.Candidate, SDPMid: cand.SDPMid,
			SDPMLineIndex: cand.SDPMLineIndex, UsernameFragment: cand.UsernameFragment}
		s.mu.Lock()
		cur := s.cur
		if cur == nil || cur.remote.Key() != m.UID.Key() {
			k := m.UID.Key()
			if len(s.pendingCands[k]) < 200 {
				s.pendingCands[k] = append(s.pendingCands[k], init)
			}
			s.mu.Unlock()
			return false
		}
		s.mu.Unlock()
		cur.addRemoteCandidate(init)
	case signal.CmdPeerLeave:
		s.mu.Lock()
		cur := s.cur
		s.mu.Unlock()
		if cur != nil && cur.remote.Key() == m.RemoteUID.Key() {
			s.cfg.Logf("peer-leave %s", m.RemoteUID)
			s.endCall("peer-leave")
			return s.cfg.Once
		}
	case signal.CmdFull:
		s.mu.Lock()
		s.res.Signaling.JoinReply = signal.CmdFull
		s.mu.Unlock()
		s.cfg.Logf("room %s is full", s.cfg.Room)
		return true
	case signal.CmdError:
		s.mu.Lock()
		s.res.Signaling.JoinReply = signal.CmdError
		s.res.Signaling.Error = fmt.Sprintf("server error %d: %s", m.Code, m.Reason)
		s.mu.Unlock()
		s.cfg.Logf("server error %d: %s", m.Code, m.Reason)
		return true
	case signal.CmdReplaced:
		s.cfg.Logf("another connection joined as %s; this one is replaced", s.cfg.UID)
		return true
	}
	return false
}

// signalClosed records how the websocket ended.
func (s *session) signalClosed() {
	ci := s.cl.CloseInfo()
	info := &CloseInfo{Code: ci.Code, Text: ci.Text, AtMs: s.sinceT(ci.At), ByServer: ci.ByServer}
	s.mu.Lock()
	if s.cur != nil && s.cur.upAt != nil {
		info.CallAgeMs = msOf(ci.At.Sub(*s.cur.upAt))
	} else if s.cur != nil {
		info.CallAgeMs = msOf(ci.At.Sub(s.cur.created))
	}
	s.res.Signaling.Closed = info
	s.closedAt = info
	s.mu.Unlock()
	s.cfg.Logf("signaling closed: code %d %s", ci.Code, ci.Text)
}

// newCall records a new call and makes it current.
func (s *session) newCall(role string, remote signal.ID) *call {
	c := &call{s: s, role: role, remote: remote, created: time.Now()}
	c.res = &CallResult{Role: role, RemoteUID: remote.String(), LocalCodecs: localCodecNames(s.cfg),
		LocalCandidates: Candidates{Counts: map[string]int{}}, RemoteCandidates: Candidates{Counts: map[string]int{}}}
	now := s.since()
	s.mu.Lock()
	c.res.Timeline.WSOpen = s.res.Signaling.OpenMs
	c.res.Timeline.Joined = s.res.Signaling.JoinedMs
	mark(&c.res.Timeline.PeerKnown, now)
	c.deadline = time.Now().Add(s.cfg.NegotiateTimeout)
	c.stage = "negotiating"
	s.cur = c
	s.res.Calls = append(s.res.Calls, c.res)
	c.pendingRemote = s.pendingCands[remote.Key()]
	delete(s.pendingCands, remote.Key())
	s.mu.Unlock()
	s.status(Status{Stage: "negotiating", Role: role, Remote: remote.String()})
	return c
}

// endCall finalises and closes the current call, if any.
func (s *session) endCall(reason string) {
	s.mu.Lock()
	c := s.cur
	s.cur = nil
	s.mu.Unlock()
	if c == nil {
		return
	}
	c.end(reason)
}

// checkStages moves the current call on its deadlines; it returns true when the call
// ended.
func (s *session) checkStages() bool {
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	if c == nil {
		return false
	}
	reason := c.checkStage(time.Now())
	if reason == "" {
		return false
	}
	s.mu.Lock()
	if s.cur == c {
		s.cur = nil
	}
	s.mu.Unlock()
	c.end(reason)
	return true
}

// liveStatus is the status line of the current call.
func (s *session) liveStatus() Status {
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	if c == nil {
		return Status{Stage: "waiting-peer"}
	}
	return c.liveStatus()
}

// leave sends leave and closes the websocket and the media sources.
func (s *session) close() {
	s.endCall(EndDone)
	if s.cl != nil {
		if err := s.cl.Leave(s.cfg.Room, s.cfg.UID); err != nil && !errors.Is(err, signal.ErrClosed) {
			s.cfg.Logf("leave: %v", err)
		}
		_ = s.cl.Close()
	}
	if s.venc != nil {
		s.venc.Release()
		s.venc = nil
	}
	if s.aenc != nil {
		s.aenc.Release()
		s.aenc = nil
	}
}

// finish completes the Result with the session verdict.
func (s *session) finish() *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.DurationMs = s.since()
	if n := len(s.res.Calls); n > 0 {
		c := s.res.Calls[n-1]
		s.res.Verdict = c.Verdict
		if th := s.cfg.Thresholds; th != (Thresholds{}) {
			d := &Direction{}
			for _, t := range c.Rx {
				switch t.Kind {
				case "video":
					d.Video = t
				case "audio":
					d.Audio = t
				}
			}
			s.res.Checks = checks("recv", c, d, th, s.cfg)
		}
		return s.res
	}
	s.res.Verdict = Diagnose(s.sessionEvidence())
	return s.res
}

// sessionEvidence is the evidence when no call happened.
func (s *session) sessionEvidence() Evidence {
	e := Evidence{
		SignalError:  s.res.Signaling.Error,
		Joined:       s.res.Signaling.JoinedMs != nil,
		JoinReply:    s.res.Signaling.JoinReply,
		PeerTimeout:  s.cfg.PeerTimeout,
		Duration:     s.cfg.Duration,
		WaitEnd:      s.stopReason,
		RoomIsNumber: s.cfg.Room.IsNumber(),
		KeepaliveOn:  s.cfg.Keepalive > 0,
	}
	if j := s.res.Signaling.JoinedMs; j != nil && s.stopReason != "" {
		e.Waited = time.Duration((s.stoppedMs - *j) * float64(time.Millisecond))
	}
	if e.JoinReply == signal.CmdError {
		e.Joined = false
	}
	if c := s.closedAt; c != nil && e.SignalError == "" {
		e.SignalError = fmt.Sprintf("the server closed the websocket (code %d %s) before a peer arrived", c.Code, c.Text)
	}
	return e
}
