package probe

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/testenv"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

// checkOf returns the named check of a server report.
func checkOf(t *testing.T, s *TURNServerReport, name string) Check {
	t.Helper()
	for _, c := range s.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %q check in %s", name, dump(s))
	return Check{}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func startPion(t *testing.T, cfg turnserver.Config) *turnserver.Server {
	t.Helper()
	s, err := turnserver.Start(cfg)
	if err != nil {
		t.Fatalf("turnserver: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestTURNDeadlinesConsistent(t *testing.T) {
	perURL := TURNConnectTimeout + TURNChallengeTimeout + TURNBindingTimeout + TURNAllocateTimeout +
		TURNRelayTimeout + TURNGatherTimeout + TURNCallTimeout
	if perURL > TURNReportTimeout {
		t.Errorf("stages of one URL sum to %s, more than TURNReportTimeout %s", perURL, TURNReportTimeout)
	}
	if relayDrainWait+time.Duration(DefaultRelayPackets)*relayPacketInterval >= TURNRelayTimeout {
		t.Errorf("relay pacing %s + drain %s does not fit TURNRelayTimeout %s",
			time.Duration(DefaultRelayPackets)*relayPacketInterval, relayDrainWait, TURNRelayTimeout)
	}
	if stunInitialRTO*3 > TURNChallengeTimeout {
		t.Errorf("the challenge stage allows fewer than two retransmissions")
	}
}

func TestTURNPionUDPAndTCP(t *testing.T) {
	t.Parallel()
	srv := startPion(t, turnserver.Config{Users: map[string]string{"alice": "s3cret"}})
	rep := TURN(context.Background(), TURNOptions{URLs: srv.URLs(), Username: "alice", Password: "s3cret"})
	if !rep.OK {
		t.Fatalf("probe failed:\n%s", dump(rep))
	}
	for i, s := range rep.Servers {
		if s.URL != srv.URLs()[i] {
			t.Errorf("server %d is %s, want the given order", i, s.URL)
		}
		if s.Challenge.Code != 401 || s.Challenge.Realm != srv.Realm() || s.Challenge.Nonce == "" {
			t.Errorf("%s: challenge %+v", s.URL, s.Challenge)
		}
		if !strings.HasPrefix(s.Allocation.Relayed, "127.0.0.1:") {
			t.Errorf("%s: relayed %q", s.URL, s.Allocation.Relayed)
		}
		if s.Relay.Received != DefaultRelayPackets || s.Relay.RTT.P99 <= 0 {
			t.Errorf("%s: relay %+v", s.URL, s.Relay)
		}
		var relays int
		for _, c := range s.Gathering.Candidates {
			if c.Time > s.Gathering.Done {
				t.Errorf("%s: candidate at %s after gathering was done (%s)", s.URL, c.Time, s.Gathering.Done)
			}
			if c.Type == "relay" {
				relays++
				if c.TypePref != 0 || c.ComponentPref != 255 || c.RelayProtocol != s.Server.Transport || c.URL == "" {
					t.Errorf("%s: relay row %+v", s.URL, c)
				}
			}
		}
		if relays == 0 || !s.Gathering.Complete || s.Gathering.Done <= 0 {
			t.Errorf("%s: gathering %+v", s.URL, s.Gathering)
		}
		if !s.Call.Connected || s.Call.RTPReceived == 0 || !strings.HasPrefix(s.Call.LocalCandidate, "relay") {
			t.Errorf("%s: call %+v", s.URL, s.Call)
		}
	}
	if strings.Contains(dump(rep), "s3cret") {
		t.Error("the report contains the password")
	}
	t.Logf("pion udp+tcp full report in %s", rep.Elapsed)
}

func TestTURNCoturnUDPTCPTLS(t *testing.T) {
	t.Parallel()
	ct := testenv.StartCoturn(t, testenv.CoturnOptions{Users: map[string]string{"bob": "pw-bob"}, TLS: true})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ct.CertPEM())
	rep := TURN(context.Background(), TURNOptions{URLs: ct.URLs(), Username: "bob", Password: "pw-bob",
		TLS: TLSOptions{RootCAs: pool}})
	if !rep.OK {
		t.Fatalf("probe failed:\n%s\ncoturn:\n%s", dump(rep), ct.Logs())
	}
	tlsRep := rep.Servers[2]
	if tlsRep.TLS == nil || !tlsRep.TLS.Verified || tlsRep.TLS.Chain[0].Subject == "" {
		t.Errorf("tls info %+v", tlsRep.TLS)
	}
	for _, s := range rep.Servers {
		if s.Relay.Received != DefaultRelayPackets {
			t.Errorf("%s: relay %+v", s.URL, s.Relay)
		}
		if !strings.Contains(s.Challenge.Software, "Coturn") {
			t.Errorf("%s: software %q", s.URL, s.Challenge.Software)
		}
	}
	t.Logf("coturn udp+tcp+tls full report in %s", rep.Elapsed)
}

// TestTURNRelayCutByTheTimeoutIsNotLoss: when --timeout ends the sending early, the report
// says how many of the requested packets went out, and packets still in flight at the
// cut are not counted as lost.
func TestTURNRelayCutByTheTimeoutIsNotLoss(t *testing.T) {
	t.Parallel()
	srv := startPion(t, turnserver.Config{Users: map[string]string{"alice": "s3cret"}})
	rep := TURN(context.Background(), TURNOptions{URLs: srv.URLs()[:1], Username: "alice", Password: "s3cret",
		Packets: 10000, Timeout: 3 * time.Second, NoCall: true, NoGather: true})
	s := rep.Servers[0]
	if s.Relay == nil || s.Relay.Requested != 10000 || s.Relay.Sent == 0 || s.Relay.Sent >= 10000 {
		t.Fatalf("relay %+v", s.Relay)
	}
	c := checkOf(t, s, "relay")
	if !strings.Contains(c.Detail, "stopped after") || s.Relay.Received != s.Relay.Sent {
		t.Errorf("cut relay: %+v %+v", c, s.Relay)
	}
}

// TestTURNIPv6Loopback: a TURN server on ::1 works end to end, and IPv6 addresses are
// written with brackets ("relay [::1]:PORT", not the ambiguous "::1:PORT").
func TestTURNIPv6Loopback(t *testing.T) {
	t.Parallel()
	srv := startPion(t, turnserver.Config{ListenIP: "::1", Users: map[string]string{"alice": "s3cret"}})
	rep := TURN(context.Background(), TURNOptions{URLs: srv.URLs()[:1], Username: "alice", Password: "s3cret", Packets: 5})
	s := rep.Servers[0]
	if !rep.OK || s.Call == nil || !s.Call.Connected {
		t.Fatalf("IPv6 TURN: %s", dump(s))
	}
	if !strings.HasPrefix(s.Call.LocalCandidate, "relay [::1]:") || !strings.HasPrefix(s.Call.RemoteCandidate, "relay [::1]:") {
		t.Errorf("pair %q -> %q", s.Call.LocalCandidate, s.Call.RemoteCandidate)
	}
}
