package peer

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/signal"
)

// call is one PeerConnection with one remote peer. Its record (res) is guarded by s.mu.
type call struct {
	s       *session
	role    string
	remote  signal.ID
	created time.Time
	res     *CallResult

	pc *webrtc.PeerConnection

	// Guarded by s.mu.
	stage         string // negotiating, ice, media, up, ended
	deadline      time.Time
	upAt          *time.Time
	remoteSet     bool
	sdpSent       bool
	pendingRemote []webrtc.ICECandidateInit
	pendingLocal  []signal.Candidate
	rx            map[string]*rxTrack
	tx            []*txTrack
	iceConnected  bool
	iceChecking   bool
	iceFailed     bool
	dtlsUp        bool
	pcFailed      bool
	failure       string
	finalized     bool
	ended         bool
	closing       bool // no new goroutines once set

	wg     sync.WaitGroup
	stopRx chan struct{}
}

type txTrack struct {
	kind   string
	codec  string
	detach func()
	enc    *media.Encoder
	rec    *TrackTx
}

// newPC creates the PeerConnection with the course browser's configuration.
func (c *call) newPC() error {
	cfg := webrtc.Configuration{
		ICEServers:    c.s.cfg.ICEServers,
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
	}
	if c.s.cfg.RelayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := c.s.api.NewPeerConnection(cfg)
	if err != nil {
		return fmt.Errorf("peer: new PeerConnection: %w", err)
	}
	c.stopRx = make(chan struct{})
	c.rx = map[string]*rxTrack{}
	c.pc = pc
	pc.OnICECandidate(c.onLocalCandidate)
	pc.OnICEConnectionStateChange(c.onICEState)
	pc.OnConnectionStateChange(c.onPCState)
	pc.OnTrack(c.onTrack)
	return nil
}

// addMedia adds the local tracks (sendrecv) and, for kinds only received, recvonly
// transceivers, so the SDP always says what this side wants.
func (c *call) addMedia(offerer bool) error {
	cfg := c.s.cfg
	for _, kind := range []string{"video", "audio"} {
		send := (kind == "video" && cfg.Send.Video) || (kind == "audio" && cfg.Send.Audio)
		recv := (kind == "video" && cfg.Receive.Video) || (kind == "audio" && cfg.Receive.Audio)
		enc := c.s.venc
		if kind == "audio" {
			enc = c.s.aenc
		}
		switch {
		case send && enc != nil:
			track, err := webrtc.NewTrackLocalStaticSample(enc.Codec(), kind, "rtcctl-"+c.s.cfg.UID.String())
			if err != nil {
				return fmt.Errorf("peer: %s track: %w", kind, err)
			}
			sender, err := c.pc.AddTrack(track)
			if err != nil {
				return fmt.Errorf("peer: add %s track: %w", kind, err)
			}
			t := &txTrack{kind: kind, codec: codecName(enc.Codec().MimeType), enc: enc,
				rec: &TrackTx{Kind: kind, Codec: codecName(enc.Codec().MimeType)}}
			t.detach = enc.Attach(track)
			c.s.mu.Lock()
			c.tx = append(c.tx, t)
			c.res.Tx = append(c.res.Tx, t.rec)
			c.s.mu.Unlock()
			c.wg.Add(1)
			go c.readSenderRTCP(sender, t)
		case recv && offerer:
			typ := webrtc.RTPCodecTypeVideo
			if kind == "audio" {
				typ = webrtc.RTPCodecTypeAudio
			}
			if _, err := c.pc.AddTransceiverFromKind(typ, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				return fmt.Errorf("peer: %s transceiver: %w", kind, err)
			}
		}
	}
	return nil
}

// readSenderRTCP reads the remote's feedback for one sent track: it must be read for the
// interceptors (NACK responder) to work, and PLI/FIR force a keyframe from the encoder.
func (c *call) readSenderRTCP(sender *webrtc.RTPSender, t *txTrack) {
	defer c.wg.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		var pli, fir, nack int
		var rr *rtcp.ReceptionReport
		for _, p := range pkts {
			if r, ok := p.(*rtcp.ReceiverReport); ok && len(r.Reports) > 0 {
				rep := r.Reports[0]
				rr = &rep
			}
			switch p.(type) {
			case *rtcp.PictureLossIndication:
				pli++
			case *rtcp.FullIntraRequest:
				fir++
			case *rtcp.TransportLayerNack:
				nack++
			}
		}
		if pli+fir > 0 && t.kind == "video" {
			t.enc.ForceKeyFrame()
		}
		if rr != nil {
			clock := 90000.0
			if t.kind == "audio" {
				clock = 48000
			}
			c.s.mu.Lock()
			t.rec.ReceiverReports++
			t.rec.RemoteLossPct = float64(rr.FractionLost) * 100 / 256
			t.rec.RemoteLost = int64(rr.TotalLost)
			t.rec.RemoteJitterMs = float64(rr.Jitter) / clock * 1000
			c.s.mu.Unlock()
		}
		if pli+fir+nack > 0 {
			c.s.mu.Lock()
			t.rec.PLIReceived += pli
			t.rec.FIRReceived += fir
			t.rec.NACKReceived += nack
			if pli+fir > 0 && t.kind == "video" {
				t.rec.KeyFramesForced++
			}
			c.s.mu.Unlock()
		}
	}
}

// startCaller: new-peer arrived; create the PC, add tracks, send the offer.
func (c *call) startCaller() error {
	if err := c.newPC(); err != nil {
		return err
	}
	if err := c.addMedia(true); err != nil {
		return err
	}
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("peer: create offer: %w", err)
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("peer: set local offer: %w", err)
	}
	if err := c.s.cl.SendSDP(signal.CmdOffer, c.s.cfg.Room, c.s.cfg.UID, c.remote,
		signal.SessionDescription{Type: "offer", SDP: c.pc.LocalDescription().SDP}); err != nil {
		return fmt.Errorf("peer: send offer: %w", err)
	}
	c.s.mu.Lock()
	mark(&c.res.Timeline.OfferSent, c.s.since())
	c.s.mu.Unlock()
	c.flushLocal()
	return nil
}

// answer: an offer arrived; create the PC (callee), set it, add tracks, answer.
func (c *call) answer(d signal.SessionDescription) error {
	c.s.mu.Lock()
	mark(&c.res.Timeline.OfferReceived, c.s.since())
	c.s.mu.Unlock()
	if c.pc == nil {
		if err := c.newPC(); err != nil {
			return err
		}
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: d.SDP}); err != nil {
		c.noteRemoteSDP(d.SDP)
		return fmt.Errorf("peer: set remote offer: %w", err)
	}
	c.noteRemoteSDP(d.SDP)
	c.remoteDescribed()
	if len(c.tx) == 0 {
		if err := c.addMedia(false); err != nil {
			return err
		}
	}
	ans, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("peer: create answer: %w", err)
	}
	if err := c.pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("peer: set local answer: %w", err)
	}
	if err := c.s.cl.SendSDP(signal.CmdAnswer, c.s.cfg.Room, c.s.cfg.UID, c.remote,
		signal.SessionDescription{Type: "answer", SDP: c.pc.LocalDescription().SDP}); err != nil {
		return fmt.Errorf("peer: send answer: %w", err)
	}
	c.s.mu.Lock()
	mark(&c.res.Timeline.AnswerSent, c.s.since())
	c.s.mu.Unlock()
	c.flushLocal()
	return nil
}

// acceptAnswer: the caller got the answer.
func (c *call) acceptAnswer(d signal.SessionDescription) error {
	c.s.mu.Lock()
	mark(&c.res.Timeline.AnswerReceived, c.s.since())
	c.s.mu.Unlock()
	c.noteRemoteSDP(d.SDP)
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: d.SDP}); err != nil {
		return fmt.Errorf("peer: set remote answer: %w", err)
	}
	c.remoteDescribed()
	return nil
}

// remoteDescribed flushes the buffered remote candidates and starts the ICE stage.
func (c *call) remoteDescribed() {
	c.s.mu.Lock()
	c.remoteSet = true
	pending := c.pendingRemote
	c.pendingRemote = nil
	if c.stage == "negotiating" {
		c.stage = "ice"
		c.deadline = time.Now().Add(c.s.cfg.ICETimeout)
	}
	c.s.mu.Unlock()
	for _, cand := range pending {
		if err := c.pc.AddICECandidate(cand); err != nil {
			c.s.cfg.Logf("add remote candidate: %v", err)
		}
	}
	c.s.status(Status{Stage: "ice", Role: c.role, Remote: c.remote.String()})
}

// noteRemoteSDP records the remote codecs and directions.
func (c *call) noteRemoteSDP(raw string) {
	codecs, sends := parseRemoteSDP(raw)
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.finalized {
		return
	}
	c.res.RemoteCodecs = codecs
	c.res.RemoteSends = sends
}

// parseRemoteSDP extracts the codec names per kind and which kinds the remote sends.
func parseRemoteSDP(raw string) (map[string][]string, Media) {
	var d sdp.SessionDescription
	codecs := map[string][]string{}
	var sends Media
	if err := d.UnmarshalString(raw); err != nil {
		return codecs, sends
	}
	for _, md := range d.MediaDescriptions {
		kind := md.MediaName.Media
		if kind != "audio" && kind != "video" {
			continue
		}
		seen := map[string]bool{}
		dir := "sendrecv"
		for _, a := range md.Attributes {
			switch a.Key {
			case "rtpmap":
				// "96 VP8/90000"
				f := strings.Fields(a.Value)
				if len(f) == 2 {
					name := strings.ToLower(strings.SplitN(f[1], "/", 2)[0])
					if name != "rtx" && name != "red" && name != "ulpfec" && !seen[name] {
						seen[name] = true
						codecs[kind] = append(codecs[kind], name)
					}
				}
			case "sendrecv", "sendonly", "recvonly", "inactive":
				dir = a.Key
			}
		}
		if md.MediaName.Port.Value == 0 {
			dir = "inactive"
		}
		if dir == "sendrecv" || dir == "sendonly" {
			if kind == "video" {
				sends.Video = true
			} else {
				sends.Audio = true
			}
		}
	}
	return codecs, sends
}

// addRemoteCandidate adds (or buffers, before the remote description) a remote candidate.
func (c *call) addRemoteCandidate(init webrtc.ICECandidateInit) {
	rc := parseCandidateLine(init.Candidate)
	c.s.mu.Lock()
	mark(&c.res.Timeline.FirstRemoteCandidate, c.s.since())
	c.res.RemoteCandidates.add(rc)
	if !c.remoteSet || c.pc == nil {
		c.pendingRemote = append(c.pendingRemote, init)
		c.s.mu.Unlock()
		return
	}
	c.s.mu.Unlock()
	if err := c.pc.AddICECandidate(init); err != nil {
		c.s.cfg.Logf("add remote candidate: %v", err)
	}
}

func (cs *Candidates) add(c Candidate) {
	if cs.Counts == nil {
		cs.Counts = map[string]int{}
	}
	cs.Counts[c.Type]++
	if len(cs.List) < 50 {
		cs.List = append(cs.List, c)
	}
}

// onLocalCandidate sends each gathered candidate (after our SDP went out).
func (c *call) onLocalCandidate(ic *webrtc.ICECandidate) {
	if ic == nil {
		return // gathering complete
	}
	init := ic.ToJSON()
	cand := signal.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex}
	lc := parseCandidateLine(init.Candidate)
	c.s.mu.Lock()
	if c.finalized {
		c.s.mu.Unlock() // the report is frozen, see onICEState
		return
	}
	mark(&c.res.Timeline.FirstLocalCandidate, c.s.since())
	c.res.LocalCandidates.add(lc)
	if !c.sdpSent {
		c.pendingLocal = append(c.pendingLocal, cand)
		c.s.mu.Unlock()
		return
	}
	c.s.mu.Unlock()
	c.sendCandidate(cand)
}

func (c *call) sendCandidate(cand signal.Candidate) {
	if err := c.s.cl.SendCandidate(c.s.cfg.Room, c.s.cfg.UID, c.remote, cand, c.s.cfg.CandidateFormat); err != nil {
		c.s.cfg.Logf("send candidate: %v", err)
	}
}

// flushLocal marks our SDP sent and sends the candidates gathered before it.
func (c *call) flushLocal() {
	c.s.mu.Lock()
	c.sdpSent = true
	pending := c.pendingLocal
	c.pendingLocal = nil
	c.s.mu.Unlock()
	for _, cand := range pending {
		c.sendCandidate(cand)
	}
}

func (c *call) onICEState(st webrtc.ICEConnectionState) {
	c.s.mu.Lock()
	if c.finalized {
		// The report is frozen: pion delivers the "closed" states of pc.Close
		// asynchronously, after the result was handed to the caller.
		c.s.mu.Unlock()
		return
	}
	c.res.ICEState = st.String()
	now := c.s.since()
	switch st {
	case webrtc.ICEConnectionStateChecking:
		c.iceChecking = true
		mark(&c.res.Timeline.ICEChecking, now)
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
		c.iceConnected = true
		mark(&c.res.Timeline.ICEConnected, now)
	case webrtc.ICEConnectionStateFailed:
		c.iceFailed = true
	}
	c.s.mu.Unlock()
	c.s.cfg.Logf("ICE %s", st)
	c.s.wake()
}

func (c *call) onPCState(st webrtc.PeerConnectionState) {
	c.s.mu.Lock()
	if c.finalized {
		c.s.mu.Unlock() // the report is frozen, see onICEState
		return
	}
	c.res.PCState = st.String()
	switch st {
	case webrtc.PeerConnectionStateConnected:
		c.dtlsUp = true
		mark(&c.res.Timeline.DTLSConnected, c.s.since())
		now := time.Now()
		c.upAt = &now
	case webrtc.PeerConnectionStateFailed:
		c.pcFailed = true
	}
	c.s.mu.Unlock()
	c.s.cfg.Logf("PeerConnection %s", st)
	c.s.wake()
}

// fail records a negotiation failure and lets the loop end the call.
func (c *call) fail(why string) {
	c.s.mu.Lock()
	if c.failure == "" {
		c.failure = why
	}
	c.s.mu.Unlock()
	c.s.wake()
}

// checkStage applies the stage deadlines; it returns an end reason when the call is over.
func (c *call) checkStage(now time.Time) string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.ended {
		return ""
	}
	if c.failure != "" {
		return "error"
	}
	if c.iceFailed || c.pcFailed {
		return "ice-failed"
	}
	switch c.stage {
	case "negotiating":
		if now.After(c.deadline) {
			return "timeout-negotiate"
		}
	case "ice":
		if c.dtlsUp {
			c.stage = "media"
			c.deadline = now.Add(c.s.cfg.MediaTimeout)
			return ""
		}
		if now.After(c.deadline) {
			return "timeout-ice"
		}
	case "media":
		if c.mediaReadyLocked() {
			c.stage = "up"
			return ""
		}
		if now.After(c.deadline) {
			// Not fatal: the verdict will say what is missing; keep the call.
			c.stage = "up"
			c.s.cfg.Logf("no complete media within %v", c.s.cfg.MediaTimeout)
		}
	}
	return ""
}

// mediaReadyLocked says every expected track delivers: video decoded, audio packets.
func (c *call) mediaReadyLocked() bool {
	exp := c.s.cfg.Receive
	if exp.Video {
		t := c.rx["video"]
		if t == nil {
			return false
		}
		st := t.stats()
		switch {
		case st.NotDecoded != "": // H264: the first keyframe is the first showable frame
			if st.KeyFrames == 0 {
				return false
			}
		case c.s.cfg.Analysis.NoDecode:
			if st.Frames == 0 {
				return false
			}
		case st.FramesDecoded == 0:
			return false
		}
	}
	if exp.Audio {
		t := c.rx["audio"]
		if t == nil || t.stats().Packets == 0 {
			return false
		}
	}
	return c.dtlsUp
}

// settled reports (ready, over): ready once all expected media flows; over once the call
// ended or gave up waiting for media.
func (c *call) settled() (ready, over bool) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	ready = c.stage == "up" && c.mediaReadyLocked()
	over = c.ended || c.stage == "up"
	return
}

func (c *call) liveStatus() Status {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	st := Status{Stage: c.stage, Role: c.role, Remote: c.remote.String()}
	if t := c.rx["video"]; t != nil {
		v := t.stats()
		st.FPS, st.BitrateKbps, st.LossPct, st.Frames = v.FPS, v.BitrateKbps, v.LossPct, v.FramesDecoded
		if v.NotDecoded != "" {
			st.Frames = v.Frames
		}
	} else if t := c.rx["audio"]; t != nil {
		v := t.stats()
		st.BitrateKbps, st.LossPct = v.BitrateKbps, v.LossPct
	}
	return st
}

// finalize freezes the call's statistics and verdict (once).
func (c *call) finalize() {
	c.s.mu.Lock()
	if c.finalized {
		c.s.mu.Unlock()
		return
	}
	c.s.mu.Unlock()
	var stats webrtc.StatsReport
	var pair *Pair
	if c.pc != nil {
		stats = c.pc.GetStats()
		pair = selectedPair(c.pc, stats, c.s.cfg.ICEServers)
	}
	gerr := c.s.logs.gatherErrors()
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.finalized {
		return
	}
	c.finalized = true
	c.res.Selected = pair
	c.res.GatherErrors = gerr
	for _, kind := range []string{"video", "audio"} {
		t := c.rx[kind]
		if t == nil {
			continue
		}
		c.markMediaTimes(t)
		t.fill()
		if kind == "video" && c.s.cfg.KeepFrame {
			c.res.LastFrame = t.an.lastFrame()
		}
	}
	fillFeedbackStats(c.rx, stats)
	c.res.Verdict = Diagnose(c.evidenceLocked())
	if c.upAt != nil {
		c.res.SendVerdict = SendDiagnose(c.res.Tx, time.Since(*c.upAt))
	}
}

// markMediaTimes copies the analyzer's first-RTP/keyframe/decoded times into the timeline.
func (c *call) markMediaTimes(t *rxTrack) {
	v := t.stats()
	tl := &c.res.Timeline
	if !v.FirstRTPAt.IsZero() {
		if t.kind == "video" {
			mark(&tl.FirstRTPVideo, c.s.sinceT(v.FirstRTPAt))
		} else {
			mark(&tl.FirstRTPAudio, c.s.sinceT(v.FirstRTPAt))
		}
	}
	if t.kind == "video" {
		if !v.FirstKeyFrameAt.IsZero() {
			mark(&tl.FirstKeyFrame, c.s.sinceT(v.FirstKeyFrameAt))
		}
		if !v.FirstDecodedAt.IsZero() {
			mark(&tl.FirstDecodedFrame, c.s.sinceT(v.FirstDecodedAt))
		}
	}
}

// evidenceLocked gathers the call's evidence for Diagnose.
func (c *call) evidenceLocked() Evidence {
	cfg := c.s.cfg
	e := Evidence{
		Joined: true, PeerKnown: true, JoinReply: c.s.res.Signaling.JoinReply,
		PeerTimeout: cfg.PeerTimeout, RoomIsNumber: cfg.Room.IsNumber(),
		Closed: c.s.closedAt, KeepaliveOn: cfg.Keepalive > 0,
		Role:           c.role,
		OfferSent:      c.res.Timeline.OfferSent != nil,
		OfferReceived:  c.res.Timeline.OfferReceived != nil,
		AnswerSent:     c.res.Timeline.AnswerSent != nil,
		AnswerReceived: c.res.Timeline.AnswerReceived != nil,
		RelayOnly:      cfg.RelayOnly,
		Local:          c.res.LocalCandidates.Counts,
		Remote:         c.res.RemoteCandidates.Counts,
		GatherErrors:   c.res.GatherErrors,
		ICEChecking:    c.iceChecking,
		ICEConnected:   c.iceConnected,
		ICEFailed:      c.iceFailed,
		DTLSConnected:  c.dtlsUp,
		PCFailed:       c.pcFailed,
		Selected:       c.res.Selected,
		RemoteSends:    c.res.RemoteSends,
		RemoteCodecs:   c.res.RemoteCodecs,
		LocalCodecs:    c.res.LocalCodecs,
		Expect:         *cfg.Receive,
		NoDecode:       cfg.Analysis.NoDecode,
		Tracks:         map[string]*TrackRx{},
	}
	e.STUNServers, e.TURNServers = countICEServers(cfg.ICEServers)
	for k, t := range c.rx {
		e.Tracks[k] = t.rec
	}
	if c.failure != "" {
		e.NegotiationError = c.failure
		if c.role == "callee" {
			e.OfferReceived = true // answering failed, so the offer did arrive
		}
		if strings.Contains(c.failure, "remote answer") {
			e.AnswerReceived = true
		}
	}
	return e
}

// end finalises the call, closes the PeerConnection and waits for its goroutines.
func (c *call) end(reason string) {
	c.s.mu.Lock()
	if c.ended {
		c.s.mu.Unlock()
		return
	}
	c.s.mu.Unlock()
	c.finalize()
	c.s.mu.Lock()
	c.ended = true
	c.closing = true
	c.stage = "ended"
	c.res.EndReason = reason
	mark(&c.res.Timeline.Ended, c.s.since())
	tx := c.tx
	c.s.mu.Unlock()
	for _, t := range tx {
		if t.detach != nil {
			t.detach()
		}
	}
	if c.stopRx != nil {
		close(c.stopRx)
	}
	if c.pc != nil {
		if err := c.pc.Close(); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
			c.s.cfg.Logf("close PeerConnection: %v", err)
		}
	}
	c.wg.Wait()
	c.s.cfg.Logf("call with %s ended: %s", c.remote, reason)
}

func countICEServers(servers []webrtc.ICEServer) (stun, turn int) {
	for _, s := range servers {
		for _, u := range s.URLs {
			switch {
			case strings.HasPrefix(u, "stun:"), strings.HasPrefix(u, "stuns:"):
				stun++
			case strings.HasPrefix(u, "turn:"), strings.HasPrefix(u, "turns:"):
				turn++
			}
		}
	}
	return
}

func codecName(mime string) string {
	if i := strings.IndexByte(mime, '/'); i >= 0 {
		mime = mime[i+1:]
	}
	return strings.ToLower(mime)
}
