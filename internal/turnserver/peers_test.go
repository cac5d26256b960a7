package turnserver

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestPeerRefusal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ip            string
		allowLoopback bool
		refused       bool
	}{
		{"127.0.0.1", true, false},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"0.0.0.0", true, true},
		{"::", true, true},
		{"169.254.169.254", true, true},
		{"fe80::1", true, true},
		{"224.0.0.1", true, true},
		{"192.168.1.20", false, false},
		{"10.0.0.5", false, false},
		{"203.0.113.7", false, false},
	}
	for _, tc := range cases {
		if got := peerRefusal(net.ParseIP(tc.ip), tc.allowLoopback) != ""; got != tc.refused {
			t.Errorf("peerRefusal(%s, loopback allowed %v) refused=%v, want %v", tc.ip, tc.allowLoopback, got, tc.refused)
		}
	}
}

// TestLoopbackPeersDenied: with LoopbackDeny a client can allocate but not open a
// permission to a loopback peer, and nothing reaches that peer.
func TestLoopbackPeersDenied(t *testing.T) {
	t.Parallel()
	s, sink := startServer(t, Config{Users: map[string]string{"u": "p"}, LoopbackPeers: LoopbackDeny})
	cl := newClient(t, s, "udp", "u", "p")
	relay, err := allocate(t, cl)
	if err != nil {
		t.Fatalf("allocation must still work: %v", err)
	}
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if err := cl.CreatePermission(peer.LocalAddr()); err == nil {
		t.Fatal("permission to a loopback peer was granted")
	}
	_, _ = relay.WriteTo([]byte("x"), peer.LocalAddr())
	_ = peer.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := peer.ReadFrom(make([]byte, 100)); err == nil {
		t.Fatalf("loopback peer received %d bytes through a denied relay", n)
	}
	if st := s.Stats(); st.PeersDenied == 0 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(sink.text(), "permission refused") {
		t.Fatalf("no log line for the refusal:\n%s", sink.text())
	}
	if _, err := Start(Config{Secret: "k", LoopbackPeers: 7}); err == nil {
		t.Fatal("unknown policy accepted")
	}
}
