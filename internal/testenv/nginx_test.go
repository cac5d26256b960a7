package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestStartNginxWSProxyForwardsUpgradeHeaders(t *testing.T) {
	t.Parallel()
	for _, omit := range []bool{false, true} {
		seen := make(chan string, 1)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen <- r.URL.Path + " upgrade=" + r.Header.Get("Upgrade") + " connection=" + r.Header.Get("Connection")
			_, _ = io.WriteString(w, "ok")
		}))
		t.Cleanup(up.Close)
		n := StartNginxWSProxy(t, NginxOptions{Upstream: up.URL, TLS: true, OmitUpgradeHeaders: omit})
		if !strings.HasPrefix(n.URL(), "wss://127.0.0.1:") {
			t.Fatalf("URL = %q", n.URL())
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(n.CACertPEM()) {
			t.Fatal("bad CA PEM")
		}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool},
		}}
		req, _ := http.NewRequest(http.MethodGet, "https://"+n.Addr()+"/ws", nil)
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("via nginx: %v\n%s", err, n.Logs())
		}
		_ = resp.Body.Close()
		got := <-seen
		want := "/ws upgrade=websocket connection=upgrade"
		if omit {
			want = "/ws upgrade= connection=close"
		}
		if got != want {
			t.Errorf("omit=%v: upstream saw %q, want %q", omit, got, want)
		}
	}
}
