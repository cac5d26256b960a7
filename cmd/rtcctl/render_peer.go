package main

import (
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rtcctl/rtcctl/internal/peer"
	"github.com/rtcctl/rtcctl/internal/report"
)

// renderVerdict prints a verdict: the finding, then for failures the evidence, causes and
// fix; notes always.
func renderVerdict(w io.Writer, col bool, indent string, v peer.Verdict) {
	code := report.Paint(col, v.Code, report.Good...)
	if !v.OK {
		code = report.Paint(col, v.Code, report.Bad...)
	}
	fmt.Fprintf(w, "%sverdict: %s: %s\n", indent, code, v.Finding)
	if !v.OK {
		for _, e := range v.Evidence {
			fmt.Fprintf(w, "%s  evidence: %s\n", indent, e)
		}
		for _, c := range v.Causes {
			fmt.Fprintf(w, "%s  likely:   %s\n", indent, c)
		}
		if v.Fix != "" {
			fmt.Fprintf(w, "%s  %s %s\n", indent, report.Paint(col, "fix:", report.Head...), v.Fix)
		}
	}
	for _, n := range v.Notes {
		fmt.Fprintf(w, "%s%s %s\n", indent, report.Paint(col, "note:", report.Warn...), n.Finding)
		if n.Fix != "" {
			fmt.Fprintf(w, "%s  %s %s\n", indent, report.Paint(col, "fix:", report.Head...), n.Fix)
		}
	}
}

// timelineLine lists the reached stages in order, in ms.
func timelineLine(t peer.Timeline) string {
	type st struct {
		name string
		v    *float64
	}
	stages := []st{
		{"ws open", t.WSOpen}, {"joined", t.Joined}, {"peer", t.PeerKnown},
		{"offer sent", t.OfferSent}, {"offer recv", t.OfferReceived},
		{"answer sent", t.AnswerSent}, {"answer recv", t.AnswerReceived},
		{"1st local cand", t.FirstLocalCandidate}, {"1st remote cand", t.FirstRemoteCandidate},
		{"ICE checking", t.ICEChecking}, {"ICE connected", t.ICEConnected}, {"DTLS connected", t.DTLSConnected},
		{"1st RTP audio", t.FirstRTPAudio}, {"1st RTP video", t.FirstRTPVideo},
		{"1st keyframe", t.FirstKeyFrame}, {"1st decoded frame", t.FirstDecodedFrame},
	}
	parts := []string{}
	for _, s := range stages {
		if s.v != nil {
			parts = append(parts, fmt.Sprintf("%s %.0f", s.name, *s.v))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " | ")
}

func countsLine(c peer.Candidates) string {
	parts := []string{}
	for _, t := range []string{"host", "srflx", "prflx", "relay"} {
		if n := c.Counts[t]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, t))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func rxLine(t *peer.TrackRx) string {
	if t == nil {
		return "nothing received"
	}
	if t.Kind == "video" && t.NotDecoded != "" {
		s := fmt.Sprintf("%s %dx%d  %.1f fps  %.0f kbit/s  loss %.2f%%  jitter %.1f ms  frames %d assembled (%d keyframes)  PLI sent %d, NACK sent %d",
			t.Codec, t.Width, t.Height, t.FPS, t.BitrateKbps, t.LossPct, t.JitterMs, t.Frames, t.KeyFrames, t.PLISent, t.NACKSent)
		if t.ProfileLevelID != "" {
			s += "  SPS profile-level-id " + t.ProfileLevelID
		}
		return s + "\n      not decoded: " + t.NotDecoded
	}
	if t.Kind == "video" {
		s := fmt.Sprintf("%s %dx%d  %.1f fps  %.0f kbit/s  loss %.2f%%  jitter %.1f ms  frames %d decoded (%d keyframes, %d decode errors)",
			t.Codec, t.Width, t.Height, t.FPS, t.BitrateKbps, t.LossPct, t.JitterMs, t.FramesDecoded, t.KeyFrames, t.DecodeErrors)
		if t.LatencyP50Ms > 0 {
			s += fmt.Sprintf("  latency p50 %.0f ms p95 %.0f ms", t.LatencyP50Ms, t.LatencyP95Ms)
		}
		if t.Black {
			s += "  BLACK"
		}
		if t.Frozen {
			s += "  FROZEN"
		}
		s += fmt.Sprintf("  PLI sent %d, NACK sent %d", t.PLISent, t.NACKSent)
		return s
	}
	s := fmt.Sprintf("%s  %.0f kbit/s  loss %.2f%%  jitter %.1f ms  level %.1f dBFS", t.Codec, t.BitrateKbps, t.LossPct, t.JitterMs, t.LevelDBFS)
	if t.Silent {
		s += "  SILENT"
	}
	return s
}

func txLine(t *peer.TrackTx) string {
	s := fmt.Sprintf("%s %s: %d receiver reports (remote loss %.1f%%, jitter %.1f ms), PLI %d, FIR %d, NACK %d received",
		t.Kind, t.Codec, t.ReceiverReports, t.RemoteLossPct, t.RemoteJitterMs, t.PLIReceived, t.FIRReceived, t.NACKReceived)
	if t.KeyFramesForced > 0 {
		s += fmt.Sprintf(", %d keyframes forced", t.KeyFramesForced)
	}
	return s
}

// endReasonText is a call's end reason for people: a --duration or a finished measurement
// is a normal end, Ctrl-C an interruption; the JSON keeps the code.
func endReasonText(code string) string {
	switch code {
	case peer.EndDuration:
		return "duration reached"
	case peer.EndDone:
		return "done"
	case peer.EndCallTimeout:
		return "--timeout reached"
	case peer.EndCanceled:
		return "interrupted"
	}
	return orDashStr(code)
}

// renderCallResult prints one call of a session.
func renderCallResult(w io.Writer, col bool, c *peer.CallResult) {
	fmt.Fprintf(w, "  %s with %s (ended: %s)\n", report.Paint(col, c.Role, report.Head...), c.RemoteUID, endReasonText(c.EndReason))
	fmt.Fprintf(w, "    timeline (ms): %s\n", timelineLine(c.Timeline))
	fmt.Fprintf(w, "    candidates: local %s; remote %s\n", countsLine(c.LocalCandidates), countsLine(c.RemoteCandidates))
	fmt.Fprintf(w, "    selected pair: %s\n", c.Selected.String())
	for _, t := range c.Rx {
		fmt.Fprintf(w, "    recv %-5s %s\n", t.Kind, rxLine(t))
	}
	for _, t := range c.Tx {
		fmt.Fprintf(w, "    sent %s\n", txLine(t))
	}
	renderVerdict(w, col, "    ", c.Verdict)
	if sv := c.SendVerdict; sv != nil {
		mark := report.Paint(col, sv.Code, report.Good...)
		if !sv.OK {
			mark = report.Paint(col, sv.Code, report.Bad...)
		}
		fmt.Fprintf(w, "    send verdict: %s: %s\n", mark, sv.Finding)
		if !sv.OK && sv.Fix != "" {
			fmt.Fprintf(w, "      %s %s\n", report.Paint(col, "fix:", report.Head...), sv.Fix)
		}
	}
}

// renderJoinText prints a session's summary.
func renderJoinText(w io.Writer, col bool, r *peer.Result) {
	roomType := "string"
	if r.RoomIsNumber {
		roomType = "number"
	}
	fmt.Fprintf(w, "%s  %s  room %q (%s)  uid %s  %.1f s\n", report.Paint(col, "rtcctl join", report.Head...),
		r.Server, r.Room, roomType, r.UID, r.DurationMs/1000)
	sig := fmt.Sprintf("join reply: %s", orDashStr(r.Signaling.JoinReply))
	if r.Signaling.JoinReply == "" {
		sig = "join reply: none (normal for a first joiner on the original server)"
	}
	if r.Signaling.Closed != nil {
		sig += fmt.Sprintf("; websocket closed at %.1f s with code %d %s", r.Signaling.Closed.AtMs/1000, r.Signaling.Closed.Code, r.Signaling.Closed.Text)
	}
	fmt.Fprintf(w, "  signaling: %s\n", sig)
	if len(r.Calls) == 0 {
		renderVerdict(w, col, "  ", r.Verdict)
		return
	}
	for _, c := range r.Calls {
		renderCallResult(w, col, c)
	}
	for _, c := range r.Checks {
		line := fmt.Sprintf("  %s %-22s %s", report.Mark(col, c.Passed), strings.TrimPrefix(c.Name, "recv "), c.Measured)
		if c.Threshold != "" {
			line += " (want " + c.Threshold + ")"
		}
		fmt.Fprintln(w, line)
	}
}

// renderCallText prints RunCall's summary.
func renderCallText(w io.Writer, col bool, rep *peer.CallReport) {
	mode := []string{}
	if rep.Embedded {
		mode = append(mode, "embedded")
	}
	if rep.RelayOnly {
		mode = append(mode, "relay-only")
	}
	m := ""
	if len(mode) > 0 {
		m = " (" + strings.Join(mode, ", ") + ")"
	}
	fmt.Fprintf(w, "%s  %s  room %q%s\n", report.Paint(col, "rtcctl call", report.Head...), rep.Server, rep.Room, m)
	if len(rep.ICEServers) > 0 {
		fmt.Fprintf(w, "  ICE servers: %s\n", strings.Join(rep.ICEServers, ", "))
	}
	for i, d := range rep.Directions {
		fmt.Fprintf(w, "\n%s  %s  %s -> %s\n", report.Mark(col, d.Passed), report.Paint(col, d.Name, report.Head...), d.From, d.To)
		fmt.Fprintf(w, "  selected pair: %s\n", d.Selected.String())
		if d.Video != nil {
			fmt.Fprintf(w, "  video: %s\n", rxLine(d.Video))
		}
		if d.Audio != nil {
			fmt.Fprintf(w, "  audio: %s\n", rxLine(d.Audio))
		}
		if i < len(rep.Peers) {
			// the receiver of a->b is peer b (index 1), of b->a peer a (index 0)
			rx := rep.Peers[1-i]
			if n := len(rx.Calls); n > 0 {
				fmt.Fprintf(w, "  receiver timeline (ms): %s\n", timelineLine(rx.Calls[n-1].Timeline))
			}
		}
		if d.JoinToFirstFrameMs != nil {
			fmt.Fprintf(w, "  first frame %.0f ms after both joined\n", *d.JoinToFirstFrameMs)
		}
		for _, c := range d.Checks {
			line := fmt.Sprintf("  %s %-22s %s", report.Mark(col, c.Passed), strings.TrimPrefix(c.Name, d.Name+" "), c.Measured)
			if c.Threshold != "" {
				line += " (want " + c.Threshold + ")"
			}
			fmt.Fprintln(w, line)
		}
		renderVerdict(w, col, "  ", d.Verdict)
	}
	total, failed := 0, 0
	for _, d := range rep.Directions {
		for _, c := range d.Checks {
			total++
			if !c.Passed {
				failed++
			}
		}
	}
	fmt.Fprintln(w)
	if rep.Passed {
		fmt.Fprintf(w, "%s: all %d checks passed (%.1f s)\n", report.Mark(col, true), total, rep.DurationMs/1000)
	} else {
		fmt.Fprintf(w, "%s: %d of %d checks failed (%.1f s)\n", report.Mark(col, false), failed, total, rep.DurationMs/1000)
	}
}

// callJUnitCases maps every check to a JUnit case.
func callJUnitCases(rep *peer.CallReport) []report.JUnitCase {
	var cases []report.JUnitCase
	for _, d := range rep.Directions {
		for _, c := range d.Checks {
			jc := report.JUnitCase{Name: c.Name, ClassName: "rtcctl.call." + d.Name}
			detail := "measured " + c.Measured
			if c.Threshold != "" {
				detail += ", want " + c.Threshold
			}
			if c.Detail != "" {
				detail += "\n" + c.Detail
			}
			if c.Passed {
				jc.Detail = detail
			} else {
				jc.Failure = fmt.Sprintf("%s: measured %s, want %s", c.Name, c.Measured, orDashStr(c.Threshold))
				jc.Detail = detail + "\n" + verdictText(d.Verdict)
			}
			cases = append(cases, jc)
		}
	}
	return cases
}

func verdictText(v peer.Verdict) string {
	var b strings.Builder
	renderVerdict(&b, false, "", v)
	return b.String()
}

func orDashStr(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// statusLine draws the live one-line status on a terminal (\r, at most 4 per second), or
// prints a progress line per stage change otherwise.
type statusLine struct {
	s    *report.Streams
	live bool

	mu     sync.Mutex
	last   time.Time
	stages map[string]string
	drawn  bool
}

func newStatusLine(s *report.Streams) *statusLine {
	return &statusLine{s: s, live: s.ErrTTY && !s.Quiet, stages: map[string]string{}}
}

// update is the peer's OnStatus callback; side is "" for join.
func (l *statusLine) update(side string, st peer.Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.live {
		if l.stages[side] != st.Stage {
			l.stages[side] = st.Stage
			prefix := ""
			if side != "" {
				prefix = side + ": "
			}
			who := ""
			if st.Role != "" {
				who = fmt.Sprintf(" (%s, remote %s)", st.Role, st.Remote)
			}
			l.s.Progressf("%s%s%s", prefix, st.Stage, who)
		}
		return
	}
	now := time.Now()
	if now.Sub(l.last) < 250*time.Millisecond {
		return
	}
	l.last = now
	prefix := ""
	if side != "" {
		prefix = side + " "
	}
	line := fmt.Sprintf("%s%-12s %5.1f fps %6.0f kbit/s loss %4.1f%% frames %d", prefix, st.Stage, st.FPS, st.BitrateKbps, st.LossPct, st.Frames)
	fmt.Fprintf(l.s.Err, "\r\033[K%s", line)
	l.drawn = true
}

// done clears the live line before the summary.
func (l *statusLine) done() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drawn {
		fmt.Fprint(l.s.Err, "\r\033[K")
		l.drawn = false
	}
}

// writeSnapshot writes a frame as PNG; it reports whether there was one.
func writeSnapshot(path string, c *peer.CallResult) (bool, error) {
	if c == nil || c.LastFrame == nil {
		return false, nil
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return false, err
	}
	if err := png.Encode(f, c.LastFrame); err != nil {
		f.Close()
		return false, err
	}
	return true, f.Close()
}
