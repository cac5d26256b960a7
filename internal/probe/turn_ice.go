package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Candidate is one gathered ICE candidate, shaped like a row of the trickle-ICE sample page.
type Candidate struct {
	// Time is when the candidate arrived, from the start of gathering.
	Time       Millis `json:"time_ms"`
	Component  int    `json:"component"`
	Type       string `json:"type"`
	Foundation string `json:"foundation"`
	Protocol   string `json:"protocol"`
	Address    string `json:"address"`
	Port       int    `json:"port"`
	Priority   uint32 `json:"priority"`
	// TypePref, LocalPref and ComponentPref are the priority split as
	// typePref<<24 | localPref<<8 | (256 - component).
	TypePref      int `json:"type_pref"`
	LocalPref     int `json:"local_pref"`
	ComponentPref int `json:"component_pref"`
	// URL is the ICE server that produced the candidate ("" for host candidates).
	URL string `json:"url,omitempty"`
	// RelayProtocol is how the client reaches the TURN server: udp, tcp or tls.
	RelayProtocol  string `json:"relay_protocol,omitempty"`
	RelatedAddress string `json:"related_address,omitempty"`
	RelatedPort    int    `json:"related_port,omitempty"`
}

// Gathering is the candidate list a PeerConnection produced with only this ICE server.
type Gathering struct {
	Candidates []Candidate `json:"candidates"`
	// Done is when gathering completed (the null candidate), from its start.
	Done Millis `json:"done_ms"`
	// Complete is false when gathering hit its deadline.
	Complete bool `json:"complete"`
}

// CallResult is the relay-only loopback call through the server.
type CallResult struct {
	// Connected is true when the PeerConnections reached "connected".
	Connected bool `json:"connected"`
	// ConnectTime is from creating the PeerConnections to "connected".
	ConnectTime Millis `json:"connect_time_ms"`
	// DataChannelRTT is one echo over the data channel.
	DataChannelRTT Millis `json:"datachannel_rtt_ms"`
	// RTPSent and RTPReceived count the video RTP packets sent through the relay.
	RTPSent     int `json:"rtp_sent"`
	RTPReceived int `json:"rtp_received"`
	// LocalCandidate and RemoteCandidate describe the selected pair of the caller.
	LocalCandidate  string `json:"local_candidate,omitempty"`
	RemoteCandidate string `json:"remote_candidate,omitempty"`
	Error           string `json:"error,omitempty"`
}

// callRTPPackets is how many RTP packets the call sends.
const callRTPPackets = 5

// iceServer returns this URL as a webrtc ICE server with the probe's credentials.
func (r *turnRun) iceServer() webrtc.ICEServer {
	return webrtc.ICEServer{URLs: []string{r.u.String()}, Username: r.cred.username, Credential: r.cred.password}
}

// settingEngine returns the settings both gathering and the call use.
func (r *turnRun) settingEngine() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.LoggerFactory = loggerFactory(r.opts.Logf)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetRelayAcceptanceMinWait(0)
	if r.u.Secure() {
		// pion has no knob for the TURN TLS roots; with a proxy dialer it uses our conn as is.
		se.SetICEProxyDialer(tlsDialer{host: r.u.Host, opts: r.opts.TLS})
	}
	return se
}

// tlsDialer dials TURN-over-TLS for pion with the probe's trust settings.
type tlsDialer struct {
	host string
	opts TLSOptions
}

func (d tlsDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, TURNConnectTimeout)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(c, &tls.Config{
		ServerName: d.host, RootCAs: d.opts.RootCAs,
		InsecureSkipVerify: d.opts.Insecure, //nolint:gosec // user asked for --insecure
		MinVersion:         tls.VersionTLS12,
	})
	ctx, cancel := context.WithTimeout(context.Background(), TURNConnectTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return tc, nil
}

// tlsUsable reports whether pion may use this server's TLS (skip ICE stages otherwise).
func (r *turnRun) tlsUsable() bool {
	return !r.u.Secure() || r.rep.TLS == nil || r.rep.TLS.Verified || r.opts.TLS.Insecure
}

// gather runs a PeerConnection that knows only this ICE server and lists what it gathers.
func (r *turnRun) gather(ctx context.Context) {
	start := time.Now()
	c := Check{Name: "gather"}
	if !r.tlsUsable() {
		c.Skipped, c.Detail = true, "skipped: the TLS certificate is not trusted"
		r.check(c)
		return
	}
	gctx, cancel := context.WithTimeout(ctx, TURNGatherTimeout)
	defer cancel()
	api := webrtc.NewAPI(webrtc.WithSettingEngine(r.settingEngine()))
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: []webrtc.ICEServer{r.iceServer()}})
	if err != nil {
		c.Detail = "cannot create a PeerConnection: " + err.Error()
		r.check(c)
		return
	}
	defer func() { _ = pc.Close() }()
	g := &Gathering{Candidates: []Candidate{}}
	r.rep.Gathering = g
	var mu sync.Mutex
	done := make(chan struct{})
	var once sync.Once
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		now := time.Since(start)
		if cand == nil {
			mu.Lock()
			g.Done, g.Complete = Millis(now), true
			mu.Unlock()
			once.Do(func() { close(done) })
			return
		}
		row := r.candidateRow(cand, now)
		mu.Lock()
		g.Candidates = append(g.Candidates, row)
		mu.Unlock()
		if r.opts.OnCandidate != nil {
			r.opts.OnCandidate(r.rep.URL, row)
		}
	})
	if _, err := pc.CreateDataChannel("probe", nil); err != nil {
		c.Detail = "data channel: " + err.Error()
		r.check(c)
		return
	}
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		c.Detail = "offer: " + err.Error()
		r.check(c)
		return
	}
	select {
	case <-done:
	case <-gctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	c.Elapsed = Millis(time.Since(start))
	if r.opts.OnGatheringDone != nil {
		elapsed := g.Done
		if !g.Complete {
			elapsed = c.Elapsed
		}
		r.opts.OnGatheringDone(r.rep.URL, elapsed, g.Complete)
	}
	relays := 0
	for _, cand := range g.Candidates {
		if cand.Type == "relay" {
			relays++
		}
	}
	switch {
	case relays == 0:
		c.Detail = fmt.Sprintf("%d candidates, none of type relay", len(g.Candidates))
		c.Fix = "a browser with this iceServers entry would get no relay candidate: see the allocate check above"
	case !g.Complete:
		c.OK = true
		c.Detail = fmt.Sprintf("%d candidates (%d relay); gathering did not finish within %s", len(g.Candidates), relays, TURNGatherTimeout)
	default:
		c.OK = true
		c.Detail = fmt.Sprintf("%d candidates (%d relay), done after %s", len(g.Candidates), relays, g.Done)
	}
	r.check(c)
}

func (r *turnRun) candidateRow(c *webrtc.ICECandidate, at time.Duration) Candidate {
	row := Candidate{
		Time: Millis(at), Component: int(c.Component), Type: c.Typ.String(), Foundation: c.Foundation,
		Protocol: c.Protocol.String(), Address: c.Address, Port: int(c.Port), Priority: c.Priority,
		TypePref: int(c.Priority >> 24), LocalPref: int((c.Priority >> 8) & 0xFFFF), ComponentPref: int(c.Priority & 0xFF),
		RelatedAddress: c.RelatedAddress, RelatedPort: int(c.RelatedPort),
	}
	if c.Typ == webrtc.ICECandidateTypeRelay || c.Typ == webrtc.ICECandidateTypeSrflx {
		row.URL = r.u.String()
	}
	if c.Typ == webrtc.ICECandidateTypeRelay {
		row.RelayProtocol = r.u.Proto()
	}
	return row
}

// call connects two relay-only PeerConnections through the server and sends a data
// channel echo and a few RTP packets.
func (r *turnRun) call(ctx context.Context) {
	start := time.Now()
	c := Check{Name: "call"}
	if !r.tlsUsable() {
		c.Skipped, c.Detail = true, "skipped: the TLS certificate is not trusted"
		r.check(c)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, TURNCallTimeout)
	defer cancel()
	res := &CallResult{}
	r.rep.Call = res
	err := r.runCall(cctx, start, res)
	c.Elapsed = Millis(time.Since(start))
	if err != nil {
		res.Error = err.Error()
		c.Detail = "relay-only call failed: " + err.Error()
		c.Fix = "browsers with iceTransportPolicy relay cannot connect through this server: see the permission and relay checks"
		r.check(c)
		return
	}
	c.OK = res.RTPReceived > 0
	c.Detail = fmt.Sprintf("relay-only call connected in %s (%s -> %s), data channel echo %s, %d/%d RTP packets",
		res.ConnectTime, res.LocalCandidate, res.RemoteCandidate, res.DataChannelRTT, res.RTPReceived, res.RTPSent)
	if !c.OK {
		c.Fix = "the call connected but no media arrived through the relay"
	}
	r.check(c)
}

var errCallTimeout = errors.New("probe: call did not connect before the deadline")

func (r *turnRun) runCall(ctx context.Context, start time.Time, res *CallResult) error {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return fmt.Errorf("codecs: %w", err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(r.settingEngine()), webrtc.WithMediaEngine(me))
	cfg := webrtc.Configuration{
		ICEServers:         []webrtc.ICEServer{r.iceServer()},
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
		BundlePolicy:       webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy:      webrtc.RTCPMuxPolicyRequire,
	}
	caller, err := api.NewPeerConnection(cfg)
	if err != nil {
		return fmt.Errorf("peer connection: %w", err)
	}
	callee, err := api.NewPeerConnection(cfg)
	if err != nil {
		_ = caller.Close()
		return fmt.Errorf("peer connection: %w", err)
	}
	var readers sync.WaitGroup
	defer func() {
		_ = caller.Close()
		_ = callee.Close()
		readers.Wait()
	}()

	connected := make(chan struct{})
	var connOnce sync.Once
	caller.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			connOnce.Do(func() { close(connected) })
		}
	})
	var rtpGot atomic.Int32
	allRTP := make(chan struct{})
	var rtpOnce sync.Once
	callee.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				if _, _, err := t.ReadRTP(); err != nil {
					return
				}
				if rtpGot.Add(1) >= callRTPPackets {
					rtpOnce.Do(func() { close(allRTP) })
				}
			}
		}()
	})
	callee.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) { _ = dc.Send(m.Data) })
	})
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "rtcctl-probe")
	if err != nil {
		return fmt.Errorf("track: %w", err)
	}
	if _, err := caller.AddTrack(track); err != nil {
		return fmt.Errorf("add track: %w", err)
	}
	dc, err := caller.CreateDataChannel("probe", nil)
	if err != nil {
		return fmt.Errorf("data channel: %w", err)
	}
	echo := make(chan time.Time, 1)
	dc.OnMessage(func(webrtc.DataChannelMessage) {
		select {
		case echo <- time.Now():
		default:
		}
	})
	dcOpen := make(chan struct{})
	var openOnce sync.Once
	dc.OnOpen(func() { openOnce.Do(func() { close(dcOpen) }) })

	if err := negotiate(ctx, caller, callee); err != nil {
		return err
	}
	select {
	case <-connected:
		res.Connected = true
		res.ConnectTime = Millis(time.Since(start))
	case <-ctx.Done():
		return fmt.Errorf("%w (%s)", errCallTimeout, roundDur(time.Since(start)))
	}
	if pair := selectedPair(caller); pair != nil {
		res.LocalCandidate = fmt.Sprintf("%s %s", pair.Local.Typ, net.JoinHostPort(pair.Local.Address, strconv.Itoa(int(pair.Local.Port))))
		res.RemoteCandidate = fmt.Sprintf("%s %s", pair.Remote.Typ, net.JoinHostPort(pair.Remote.Address, strconv.Itoa(int(pair.Remote.Port))))
	}
	select {
	case <-dcOpen:
	case <-ctx.Done():
		return errors.New("probe: data channel did not open through the relay")
	}
	sent := time.Now()
	if err := dc.SendText("ping"); err != nil {
		return fmt.Errorf("data channel send: %w", err)
	}
	select {
	case t := <-echo:
		res.DataChannelRTT = Millis(t.Sub(sent))
	case <-ctx.Done():
		return errors.New("probe: no data channel echo through the relay")
	}
	ticker := time.NewTicker(5 * time.Millisecond)
	defer ticker.Stop()
	for i := 0; i < callRTPPackets; i++ {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000, Marker: true},
			Payload: []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}} // a VP8 payload descriptor and keyframe start code
		if err := track.WriteRTP(pkt); err != nil {
			return fmt.Errorf("rtp write: %w", err)
		}
		res.RTPSent++
		select {
		case <-ticker.C:
		case <-ctx.Done():
		}
	}
	wait := time.NewTimer(time.Second)
	defer wait.Stop()
	select {
	case <-allRTP:
	case <-wait.C:
	case <-ctx.Done():
	}
	res.RTPReceived = int(rtpGot.Load())
	return nil
}

// negotiate runs a non-trickle offer/answer between two local PeerConnections.
func negotiate(ctx context.Context, caller, callee *webrtc.PeerConnection) error {
	offer, err := caller.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(caller)
	if err := caller.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	if err := waitCtx(ctx, gathered, "caller gathering"); err != nil {
		return err
	}
	if err := callee.SetRemoteDescription(*caller.LocalDescription()); err != nil {
		return fmt.Errorf("remote offer: %w", err)
	}
	answer, err := callee.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	gathered = webrtc.GatheringCompletePromise(callee)
	if err := callee.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	if err := waitCtx(ctx, gathered, "callee gathering"); err != nil {
		return err
	}
	if err := caller.SetRemoteDescription(*callee.LocalDescription()); err != nil {
		return fmt.Errorf("remote answer: %w", err)
	}
	return nil
}

func waitCtx(ctx context.Context, ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %s", ErrTimeout, what)
	}
}

func selectedPair(pc *webrtc.PeerConnection) *webrtc.ICECandidatePair {
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return nil
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil {
		return nil
	}
	return pair
}
