package interop

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/rtcctl/rtcctl/internal/peer"
	"github.com/rtcctl/rtcctl/internal/serve"
	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/testenv"
)

// deployment is the course setup on loopback with short timeouts: rtcctl serve (in
// process, plain ws) behind Debian nginx terminating TLS (wss, /ws), and Debian coturn
// with a static user.
type deployment struct {
	serve  *serve.Server
	nginx  *testenv.Nginx
	coturn *testenv.Coturn
	caFile string
	user   string
	pass   string
}

func startDeployment(t *testing.T, nginxOpts testenv.NginxOptions) *deployment {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// Like the course's original server: no server pings, no idle timeout (serve's pings
	// alone would keep nginx from cutting an idle websocket).
	srv, err := serve.Start(ctx, serve.Config{Addr: "127.0.0.1:0",
		Signal: signal.ServerConfig{PingInterval: -1, IdleTimeout: -1}})
	if err != nil {
		cancel()
		t.Fatalf("serve.Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close(); cancel() })
	d := &deployment{serve: srv}
	nginxOpts.Upstream = srv.Addr().String()
	nginxOpts.TLS = true
	d.nginx = testenv.StartNginxWSProxy(t, nginxOpts)
	d.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(d.caFile, d.nginx.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	d.coturn = testenv.StartCoturn(t, testenv.CoturnOptions{})
	for u, p := range d.coturn.Users {
		d.user, d.pass = u, p
	}
	return d
}

// doctorJSON is the part of `rtcctl doctor --json` the test reads.
type doctorJSON struct {
	Version      int    `json:"version"`
	OK           bool   `json:"ok"`
	FirstFailure string `json:"first_failure"`
	Items        []struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Failure string `json:"failure"`
		Detail  string `json:"detail"`
		Cause   string `json:"cause"`
		Fix     string `json:"fix"`
	} `json:"items"`
	Signal struct {
		Idle *struct {
			Survived bool    `json:"survived"`
			CutAfter float64 `json:"cut_after_ms"`
		} `json:"idle"`
		IdleKeepalive *struct {
			Survived bool `json:"survived"`
			Pongs    int  `json:"pongs"`
		} `json:"idle_keepalive"`
	} `json:"signal"`
}

func (d *deployment) doctor(t *testing.T, pass string, extra ...string) (doctorJSON, int, string) {
	t.Helper()
	args := append([]string{"doctor", "--server", d.nginx.URL(), "--ca-file", d.caFile,
		"--ice-server", d.coturn.UDPURL(), "--ice-user", d.user, "--ice-pass", pass,
		"--duration", "2s", "--json"}, extra...)
	out, errOut, code := runRtcctl(t, 90*time.Second, args...)
	var rep doctorJSON
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("doctor --json output is not JSON (exit %d): %v\nstdout:\n%s\nstderr:\n%s", code, err, out, errOut)
	}
	return rep, code, string(out)
}

// TestDeploymentSmoke is scripts/smoke-deploy.sh with short timeouts (nginx
// proxy_read_timeout 3 s instead of 60 s): a relay-only call through nginx and coturn
// outlives the proxy timeout with the keepalive, loses its websocket without it (and the
// report names the proxy idle timeout), doctor is all green, and doctor names each of
// four faults.
func TestDeploymentSmoke(t *testing.T) {
	t.Parallel()
	d := startDeployment(t, testenv.NginxOptions{ProxyReadTimeout: 3 * time.Second})
	ice := []webrtc.ICEServer{{URLs: []string{d.coturn.UDPURL()}, Username: d.user, Credential: d.pass}}
	call := func(keepalive time.Duration) *peer.CallReport {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		rep, err := peer.RunCall(ctx, peer.CallConfig{Server: d.nginx.URL(), CAFile: d.caFile,
			ICEServers: ice, RelayOnly: true, Duration: 6 * time.Second, Keepalive: keepalive,
			Thresholds: peer.Thresholds{RequireRelay: true}, Logf: t.Logf})
		if err != nil {
			t.Fatalf("RunCall: %v", err)
		}
		return rep
	}

	t.Run("call-with-keepalive-outlives-proxy-timeout", func(t *testing.T) {
		rep := call(time.Second)
		js, _ := json.MarshalIndent(rep, "", "  ")
		if !rep.Passed {
			t.Fatalf("6 s relay-only call through nginx (3 s idle timeout) with 1 s keepalive failed:\n%s", js)
		}
		for _, p := range rep.Peers {
			if p.Signaling.Closed != nil {
				t.Errorf("peer %s: websocket closed during the call: %+v", p.UID, p.Signaling.Closed)
			}
		}
	})

	t.Run("call-without-keepalive-cut-by-proxy", func(t *testing.T) {
		rep := call(-1)
		js, _ := json.MarshalIndent(rep, "", "  ")
		closed := 0
		for _, p := range rep.Peers {
			if c := p.Signaling.Closed; c != nil {
				closed++
				if c.AtMs < 2500 || c.AtMs > 15000 {
					t.Errorf("peer %s: websocket closed at %.0f ms; the proxy idle timeout is 3 s", p.UID, c.AtMs)
				}
			}
		}
		if closed == 0 {
			t.Fatalf("no websocket was cut by nginx's 3 s proxy_read_timeout:\n%s", js)
		}
		low := strings.ToLower(string(js))
		if !strings.Contains(low, "proxy_read_timeout") && !strings.Contains(low, "idle timeout") {
			t.Errorf("report does not name the proxy idle timeout:\n%s", js)
		}
	})

	t.Run("doctor-healthy", func(t *testing.T) {
		rep, code, raw := d.doctor(t, d.pass)
		if code != 0 || !rep.OK {
			t.Fatalf("doctor against a healthy deployment: exit %d\n%s", code, raw)
		}
		want := map[string]bool{"signal-connect": false, "signal-tls": false, "signal-upgrade": false, "signal-join": false, "stun": false, "call": false}
		for _, it := range rep.Items {
			if _, ok := want[it.ID]; ok {
				want[it.ID] = it.Status == "pass"
			}
		}
		for id, ok := range want {
			if !ok {
				t.Errorf("item %s did not pass\n%s", id, raw)
			}
		}
		// The text checklist, as a person sees it.
		out, _, _ := runRtcctl(t, 90*time.Second, "doctor", "--server", d.nginx.URL(), "--ca-file", d.caFile,
			"--ice-server", d.coturn.UDPURL(), "--ice-user", d.user, "--ice-pass", "wrong", "--duration", "2s")
		t.Logf("rtcctl doctor (wrong TURN password):\n%s", out)
	})

	// doctor --idle: a silent websocket is cut by nginx's 3 s proxy_read_timeout (named as
	// the fix), one pinging every second survives; both items come last, after the call,
	// and the cut is the first (only) failure.
	t.Run("doctor-idle", func(t *testing.T) {
		rep, code, raw := d.doctor(t, d.pass, "--no-call", "--idle", "5s", "--keepalive-interval", "1s")
		if code != 1 || rep.FirstFailure != "signal-idle-cut" {
			t.Fatalf("exit %d, first failure %q; want 1, signal-idle-cut\n%s", code, rep.FirstFailure, raw)
		}
		n := len(rep.Items)
		if n < 3 || rep.Items[n-2].ID != "signal-idle" || rep.Items[n-1].ID != "signal-keepalive" || rep.Items[n-3].ID != "call" {
			t.Fatalf("want ... call, signal-idle, signal-keepalive last\n%s", raw)
		}
		for _, it := range rep.Items[:n-2] {
			if it.Status == "fail" {
				t.Errorf("item %s failed; only the idle item should\n%s", it.ID, raw)
			}
		}
		idle, kept := rep.Items[n-2], rep.Items[n-1]
		t.Logf("idle items:\n%+v\n%+v", idle, kept)
		if idle.Status != "fail" || !strings.Contains(idle.Fix, "proxy_read_timeout") || !strings.Contains(idle.Cause, "keepalive") {
			t.Errorf("idle item %+v: want a failure whose fix names proxy_read_timeout", idle)
		}
		if kept.Status != "pass" || !strings.Contains(kept.Detail, "survived") {
			t.Errorf("keepalive item %+v: want a pass that says it survived", kept)
		}
		if i, k := rep.Signal.Idle, rep.Signal.IdleKeepalive; i == nil || k == nil || i.Survived || i.CutAfter < 2500 || i.CutAfter > 5000 || !k.Survived || k.Pongs < 3 {
			t.Errorf("signal report: want the silent socket cut after ~3 s and the pinging one alive\n%s", raw)
		}
	})

	t.Run("doctor-wrong-turn-password", func(t *testing.T) {
		rep, code, raw := d.doctor(t, "not-"+d.pass)
		if code != 1 || rep.FirstFailure != "turn-auth" {
			t.Errorf("exit %d, first failure %q; want 1, turn-auth\n%s", code, rep.FirstFailure, raw)
		}
	})
}

// TestDeploymentDoctorFaults: doctor names a stopped coturn, an nginx without the
// Upgrade/Connection headers and an expired certificate, each as the first thing to fix.
func TestDeploymentDoctorFaults(t *testing.T) {
	t.Parallel()
	t.Run("coturn-stopped", func(t *testing.T) {
		d := startDeployment(t, testenv.NginxOptions{})
		d.coturn.Stop()
		rep, code, raw := d.doctor(t, d.pass)
		if code != 1 || rep.FirstFailure != "turn-unreachable" {
			t.Errorf("exit %d, first failure %q; want 1, turn-unreachable\n%s", code, rep.FirstFailure, raw)
		}
	})
	t.Run("nginx-without-upgrade-headers", func(t *testing.T) {
		d := startDeployment(t, testenv.NginxOptions{OmitUpgradeHeaders: true})
		rep, code, raw := d.doctor(t, d.pass)
		if code != 1 || rep.FirstFailure != "signal-upgrade" {
			t.Errorf("exit %d, first failure %q; want 1, signal-upgrade\n%s", code, rep.FirstFailure, raw)
		}
	})
	t.Run("expired-certificate", func(t *testing.T) {
		d := startDeployment(t, testenv.NginxOptions{ExpiredCert: true})
		rep, code, raw := d.doctor(t, d.pass)
		if code != 1 || rep.FirstFailure != "signal-tls-expired" {
			t.Errorf("exit %d, first failure %q; want 1, signal-tls-expired\n%s", code, rep.FirstFailure, raw)
		}
	})
}
