package turnserver

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestCoturnClientRelays uses coturn's own test client (turnutils_uclient, Debian package
// coturn) as a second opinion: two of its allocations send to each other through this
// server over UDP and over TCP, and every message must come back.
func TestCoturnClientRelays(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		t.Skip("turnutils_uclient not installed (Debian package coturn): run scripts/deps.sh")
	}
	s, _ := startServer(t, Config{Users: map[string]string{"demo": "pw"}})
	totals := regexp.MustCompile(`tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"udp", nil},
		{"tcp", []string{"-t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			args := append([]string{"-u", "demo", "-w", "pw", "-r", s.Realm(), "-y", "-n", "5", "-m", "1", "-l", "200",
				"-p", strconv.Itoa(s.Port())}, tc.args...)
			out, err := exec.CommandContext(ctx, bin, append(args, "127.0.0.1")...).CombinedOutput()
			if err != nil {
				t.Fatalf("turnutils_uclient %v: %v\n%s", args, err, out)
			}
			m := totals.FindAllSubmatch(out, -1)
			if len(m) == 0 {
				t.Fatalf("no totals in output:\n%s", out)
			}
			last := m[len(m)-1]
			sent, _ := strconv.Atoi(string(last[1]))
			got, _ := strconv.Atoi(string(last[2]))
			if sent == 0 || got != sent {
				t.Fatalf("sent %d, received %d through the relay:\n%s", sent, got, out)
			}
		})
	}
}
