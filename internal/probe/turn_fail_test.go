package probe

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/rtcctl/rtcctl/internal/testenv"
	"github.com/rtcctl/rtcctl/internal/turncred"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

func TestTURNWrongPassword(t *testing.T) {
	t.Parallel()
	ct := testenv.StartCoturn(t, testenv.CoturnOptions{Users: map[string]string{"bob": "right"}})
	ps := startPion(t, turnserver.Config{Users: map[string]string{"bob": "right"}})
	rep := TURN(context.Background(), TURNOptions{
		URLs: []string{ct.UDPURL(), ps.URLs()[0]}, Username: "bob", Password: "wrong", NoCall: true,
	})
	if rep.OK {
		t.Fatalf("wrong password passed:\n%s", dump(rep))
	}
	// coturn answers 401. FACTS.md saw pion's server answer 400; pion/turn v5.1.3 answers
	// 401 (with no reason phrase). Both must be explained as a password problem.
	for i, want := range [][]int{{401}, {400, 401}} {
		s := rep.Servers[i]
		if s.Allocation == nil || s.Allocation.Error == nil || !containsInt(want, s.Allocation.Error.Code) {
			t.Fatalf("%s: allocation %+v, want error %v", s.URL, s.Allocation, want)
		}
		c := checkOf(t, s, "allocate")
		if c.OK || !strings.Contains(c.Fix, "password") {
			t.Errorf("%s: allocate check %+v should fail and explain the password", s.URL, c)
		}
		if got := checkOf(t, s, "challenge"); !got.OK {
			t.Errorf("%s: the challenge itself should pass: %+v", s.URL, got)
		}
		if s.Gathering != nil || s.Relay != nil {
			t.Errorf("%s: later stages ran after a failed allocation", s.URL)
		}
	}
	if strings.Contains(dump(rep), "wrong") && !strings.Contains(dump(rep), "wrong username") {
		t.Error("password leaked into the report")
	}
}

func TestTURNRESTSecretValidAndExpired(t *testing.T) {
	t.Parallel()
	const secret = "north-wind-7"
	ct := testenv.StartCoturn(t, testenv.CoturnOptions{StaticAuthSecret: secret})
	valid := TURN(context.Background(), TURNOptions{URLs: []string{ct.UDPURL()}, Secret: secret, NoCall: true, NoGather: true})
	if !valid.OK || !valid.REST || !turncred.IsRESTUsername(valid.Username) {
		t.Fatalf("valid REST credential failed:\n%s\n%s", dump(valid), ct.Logs())
	}
	if strings.Contains(dump(valid), secret) {
		t.Error("secret leaked into the report")
	}

	// A credential made two hours ago with a one-hour TTL: expired.
	past := time.Now().Add(-2 * time.Hour)
	user, pass := turncred.Generate(secret, "carol", time.Hour, past)
	expired := TURN(context.Background(), TURNOptions{URLs: []string{ct.UDPURL()}, Username: user, Password: pass, NoCall: true, NoGather: true})
	if expired.OK {
		t.Fatalf("expired REST credential passed:\n%s", dump(expired))
	}
	s := expired.Servers[0]
	if s.Allocation == nil || s.Allocation.Error == nil || s.Allocation.Error.Code != 401 {
		t.Fatalf("expired: allocation %+v, want 401", s.Allocation)
	}
	if c := checkOf(t, s, "allocate"); !strings.Contains(c.Fix, "clock") || !strings.Contains(c.Fix, "expired") {
		t.Errorf("401 with a REST credential should hint at expiry and clocks: %+v", c)
	}
	if !strings.Contains(strings.Join(expired.Warnings, "\n"), "expired") {
		t.Errorf("no local expiry warning: %v", expired.Warnings)
	}
}

// freeUDPTCPPort returns a port with nothing listening on 127.0.0.1 (TCP and UDP).
func freeUDPTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

func TestTURNNothingListeningRefusedVsSilentTimeout(t *testing.T) {
	t.Parallel()
	dead := strconv.Itoa(freeUDPTCPPort(t))
	// A UDP socket that reads and never answers: packets vanish like behind a firewall.
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := hole.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	silent := strconv.Itoa(hole.LocalAddr().(*net.UDPAddr).Port)
	start := time.Now()
	rep := TURN(context.Background(), TURNOptions{URLs: []string{
		"turn:127.0.0.1:" + dead + "?transport=udp",
		"turn:127.0.0.1:" + dead + "?transport=tcp",
		"turn:127.0.0.1:" + silent,
	}, Username: "u", Password: "p"})
	if rep.OK {
		t.Fatal("dead ports passed")
	}
	udp, tcp, blackhole := rep.Servers[0], rep.Servers[1], rep.Servers[2]
	if udp.Outcome != "refused" || !strings.Contains(checkOf(t, udp, "connect").Detail, "ICMP port unreachable") {
		t.Errorf("closed UDP port: outcome %q, %+v", udp.Outcome, udp.Checks)
	}
	if tcp.Outcome != "refused" || !strings.Contains(checkOf(t, tcp, "connect").Detail, "refused") {
		t.Errorf("closed TCP port: outcome %q, %+v", tcp.Outcome, tcp.Checks)
	}
	c := checkOf(t, blackhole, "connect")
	if blackhole.Outcome != "timeout" || !strings.Contains(c.Detail, "no answer over UDP") || !strings.Contains(c.Fix, "firewall") {
		t.Errorf("silent UDP port: outcome %q, %+v", blackhole.Outcome, c)
	}
	if el := time.Since(start); el > TURNChallengeTimeout+TURNBindingTimeout+2*time.Second {
		t.Errorf("took %s: the stages overran their deadlines", el)
	}
}

func TestTURNSTUNOnlyServer(t *testing.T) {
	t.Parallel()
	ct := testenv.StartCoturn(t, testenv.CoturnOptions{STUNOnly: true})
	rep := TURN(context.Background(), TURNOptions{URLs: []string{ct.UDPURL(), ct.TCPURL()}, Username: "user", Password: "pass"})
	// It answers, so it is reachable: "not-turn", not "timeout" (which reads as unreachable).
	for i, name := range []string{"connect", "challenge"} {
		s := rep.Servers[i]
		c := checkOf(t, s, name)
		if rep.OK || s.Outcome != "not-turn" || !strings.Contains(c.Detail, "STUN-only") {
			t.Errorf("STUN-only server not recognised: %s", dump(s))
		}
	}
}

func TestTURNCoturnDeniesLoopbackPeers(t *testing.T) {
	t.Parallel()
	ct := testenv.StartCoturn(t, testenv.CoturnOptions{DenyLoopbackPeers: true})
	rep := TURN(context.Background(), TURNOptions{URLs: []string{ct.UDPURL()}, Username: "user", Password: "pass", NoGather: true})
	s := rep.Servers[0]
	if !checkOf(t, s, "allocate").OK {
		t.Fatalf("allocation should work without allow-loopback-peers: %s", dump(s))
	}
	c := checkOf(t, s, "permission")
	if c.OK || !strings.Contains(c.Detail, "403") || !strings.Contains(c.Fix, "allow-loopback-peers") {
		t.Errorf("permission check %+v: want a failed 403 explaining allow-loopback-peers", c)
	}
	if call := checkOf(t, s, "call"); !call.Skipped {
		t.Errorf("call should be skipped after the permission failure: %+v", call)
	}
}

func TestTURNTLSUntrustedAndNotTLS(t *testing.T) {
	t.Parallel()
	ct := testenv.StartCoturn(t, testenv.CoturnOptions{TLS: true})
	ps := startPion(t, turnserver.Config{Users: map[string]string{"user": "pass"}})
	rep := TURN(context.Background(), TURNOptions{URLs: []string{
		ct.TLSURL(),
		"turns:" + ps.Addr() + "?transport=tcp", // a plain TURN port: no TLS there
	}, Username: "user", Password: "pass"})
	if rep.OK {
		t.Fatal("untrusted certificate passed")
	}
	self := rep.Servers[0]
	c := checkOf(t, self, "tls")
	if c.OK || self.TLS.Problem != "self-signed" || !strings.Contains(c.Fix, "self-signed") || !strings.Contains(c.Detail, "CN=localhost") {
		t.Errorf("self-signed: %+v / %+v", c, self.TLS)
	}
	if !checkOf(t, self, "allocate").OK {
		t.Errorf("the TURN exchange should still be probed over the untrusted TLS")
	}
	if g := checkOf(t, self, "gather"); !g.Skipped {
		t.Errorf("gathering with an untrusted certificate should be skipped: %+v", g)
	}
	plain := rep.Servers[1]
	if plain.Outcome != "tls-failed" || !strings.Contains(checkOf(t, plain, "tls").Fix, "speaks TLS") {
		t.Errorf("not-TLS port: %s", dump(plain))
	}
}

func TestTURNBadURLIsARow(t *testing.T) {
	t.Parallel()
	rep := TURN(context.Background(), TURNOptions{URLs: []string{"stun:127.0.0.1:3478", "http://x"}})
	if rep.OK || len(rep.Servers) != 2 {
		t.Fatalf("%s", dump(rep))
	}
	for _, s := range rep.Servers {
		if s.Outcome != "bad-url" {
			t.Errorf("%s: outcome %q", s.URL, s.Outcome)
		}
	}
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func TestTURNOpenRelayWarned(t *testing.T) {
	t.Parallel()
	ct := testenv.StartCoturn(t, testenv.CoturnOptions{NoAuth: true})
	rep := TURN(context.Background(), TURNOptions{URLs: []string{ct.UDPURL()}, Username: "user", Password: "pass"})
	s := rep.Servers[0]
	if s.Challenge == nil || s.Challenge.Code != 0 || s.Allocation == nil || s.Allocation.Relayed == "" {
		t.Fatalf("open relay not seen: %s\n%s", dump(s), ct.Logs())
	}
	if !strings.Contains(strings.Join(s.Warnings, " "), "open relay") || !checkOf(t, s, "relay").Skipped {
		t.Errorf("want an open-relay warning and a skipped relay: %s", dump(s))
	}
}

// TestTURNChallengeRTTOfAFarServer: an Allocate answered after 350 ms (past the 200 ms
// retransmission) is timed from the first send, not the retransmission.
func TestTURNChallengeRTTOfAFarServer(t *testing.T) {
	t.Parallel()
	const delay = 350 * time.Millisecond
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil || req.Type.Method != stun.MethodAllocate {
				continue
			}
			resp, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID),
				stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse), stun.CodeUnauthorized,
				stun.NewRealm("far"), stun.NewNonce("n0nce"), stun.Fingerprint)
			if err != nil {
				continue
			}
			time.AfterFunc(delay, func() { _, _ = pc.WriteTo(resp.Raw, from) })
		}
	}()
	rep := TURN(context.Background(), TURNOptions{URLs: []string{"turn:" + pc.LocalAddr().String()},
		Username: "u", Password: "p", NoCall: true, NoGather: true})
	ch := rep.Servers[0].Challenge
	if ch == nil || ch.Code != 401 || ch.RTT.D() < delay-10*time.Millisecond {
		t.Fatalf("challenge %+v from a server %s away:\n%s", ch, delay, dump(rep.Servers[0]))
	}
}

// TestTURNOverTCPToSomethingElse: a TCP port that answers in HTTP (nginx on the port) or
// closes at once is reachable but not TURN: "not-turn", said plainly, not "unreachable".
func TestTURNOverTCPToSomethingElse(t *testing.T) {
	t.Parallel()
	serve := func(answer string) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				if answer != "" {
					buf := make([]byte, 512)
					_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
					_, _ = c.Read(buf)
					_, _ = c.Write([]byte(answer))
				}
				_ = c.Close()
			}
		}()
		return "turn:" + l.Addr().String() + "?transport=tcp"
	}
	httpURL := serve("HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	closeURL := serve("")
	rep := TURN(context.Background(), TURNOptions{URLs: []string{httpURL, closeURL}, Username: "u", Password: "p", NoCall: true, NoGather: true})
	h, c := rep.Servers[0], rep.Servers[1]
	if h.Outcome != "not-turn" || !strings.Contains(checkOf(t, h, "challenge").Detail, "HTTP") {
		t.Errorf("HTTP on the port: %s", dump(h))
	}
	if c.Outcome != "not-turn" || !strings.Contains(checkOf(t, c, "challenge").Detail, "closed") {
		t.Errorf("closing port: %s", dump(c))
	}
}

// TestTURNInterrupted: a probe cancelled by its caller (Ctrl-C) is marked incomplete, so a
// silent-port row cut short is not read as "UDP is blocked".
func TestTURNInterrupted(t *testing.T) {
	t.Parallel()
	hole, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	rep := TURN(ctx, TURNOptions{URLs: []string{"turn:" + hole.LocalAddr().String()}, Username: "u", Password: "p"})
	if !rep.Interrupted || rep.OK || !strings.Contains(strings.Join(rep.Warnings, " "), "interrupted") {
		t.Errorf("%s", dump(rep))
	}
	if deadline := TURN(context.Background(), TURNOptions{URLs: []string{"turn:" + hole.LocalAddr().String()}, Username: "u", Password: "p", Timeout: 300 * time.Millisecond}); deadline.Interrupted {
		t.Errorf("a probe deadline is not an interruption: %s", dump(deadline))
	}
}
