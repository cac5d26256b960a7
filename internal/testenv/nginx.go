package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NginxOptions configure an nginx websocket proxy in front of a signaling server, shaped
// like the course deployment (location /ws, HTTP/1.1 upstream, Upgrade/Connection headers).
type NginxOptions struct {
	// Upstream is the signaling server: "127.0.0.1:8099" or "http://127.0.0.1:8099".
	Upstream string
	// ProxyReadTimeout is proxy_read_timeout (nginx default 60s when zero): an idle
	// websocket is cut after this long without a frame from the upstream.
	ProxyReadTimeout time.Duration
	// TLS serves wss:// with a fresh self-signed certificate.
	TLS bool
	// OmitUpgradeHeaders leaves out the Upgrade/Connection headers (the classic broken
	// config: the upstream sees a plain GET and never upgrades).
	OmitUpgradeHeaders bool
	// ExpiredCert serves an expired certificate (implies TLS).
	ExpiredCert bool
}

// Nginx is a running nginx process.
type Nginx struct {
	// Port is the listening port on 127.0.0.1.
	Port int
	// Cert is the served certificate (nil without TLS).
	Cert *Cert

	dir  string
	tls  bool
	proc *process
}

const nginxReadyTimeout = 10 * time.Second

// StartNginxWSProxy runs Debian's nginx in the foreground (daemon off) with its pid, logs
// and temp paths inside tb.TempDir(), listening on an ephemeral 127.0.0.1 port and
// proxying /ws to opts.Upstream. Stopped in tb.Cleanup. Skips when nginx is not installed.
func StartNginxWSProxy(tb testing.TB, opts NginxOptions) *Nginx {
	tb.Helper()
	bin := lookBin(tb, "nginx", "nginx")
	if opts.Upstream == "" {
		tb.Fatalf("testenv: NginxOptions.Upstream is required")
	}
	if opts.ExpiredCert {
		opts.TLS = true
	}
	var cert *Cert
	if opts.TLS {
		cert = SelfSignedCert(tb, CertOptions{Expired: opts.ExpiredCert})
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		n, err := startNginxOnce(tb, bin, opts, cert)
		if err == nil {
			return n
		}
		lastErr = err
	}
	tb.Fatalf("testenv: nginx did not start: %v", lastErr)
	return nil
}

func startNginxOnce(tb testing.TB, bin string, opts NginxOptions, cert *Cert) (*Nginx, error) {
	port, err := freePortRun(1, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	dir := tb.TempDir()
	for _, sub := range []string{"tmp", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("testenv: nginx dir: %w", err)
		}
	}
	conf := nginxConfig(dir, port, opts, cert)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("testenv: write nginx.conf: %w", err)
	}
	proc, err := startProcess("nginx", bin, "-p", dir, "-c", confPath,
		"-e", filepath.Join(dir, "logs", "error.log"), "-g", "daemon off;")
	if err != nil {
		return nil, err
	}
	n := &Nginx{Port: port, Cert: cert, dir: dir, tls: opts.TLS, proc: proc}
	if err := n.waitReady(); err != nil {
		proc.stop()
		return nil, fmt.Errorf("%w\nnginx log:\n%s", err, lastLines(n.Logs(), 40))
	}
	tb.Cleanup(func() {
		proc.stop()
		if tb.Failed() {
			tb.Logf("nginx log (port %d):\n%s", port, lastLines(n.Logs(), 60))
		}
	})
	return n, nil
}

func nginxConfig(dir string, port int, opts NginxOptions, cert *Cert) string {
	upstream := opts.Upstream
	if !strings.Contains(upstream, "://") {
		upstream = "http://" + upstream
	}
	var b strings.Builder
	if os.Geteuid() == 0 {
		// Workers otherwise run as nobody and cannot reach the 0700 temp dir.
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, "worker_processes 1;\npid %s;\nerror_log %s info;\n",
		filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "logs", "error.log"))
	b.WriteString("events { worker_connections 256; }\nhttp {\n")
	fmt.Fprintf(&b, "  access_log %s;\n", filepath.Join(dir, "logs", "access.log"))
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "  %s_temp_path %s;\n", t, filepath.Join(dir, "tmp", t))
	}
	b.WriteString("  server {\n")
	if opts.TLS {
		fmt.Fprintf(&b, "    listen 127.0.0.1:%d ssl;\n", port)
		fmt.Fprintf(&b, "    ssl_certificate %s;\n    ssl_certificate_key %s;\n", cert.CertFile, cert.KeyFile)
	} else {
		fmt.Fprintf(&b, "    listen 127.0.0.1:%d;\n", port)
	}
	b.WriteString("    location /ws {\n")
	fmt.Fprintf(&b, "      proxy_pass %s;\n", upstream)
	b.WriteString("      proxy_http_version 1.1;\n")
	if !opts.OmitUpgradeHeaders {
		b.WriteString("      proxy_set_header Upgrade $http_upgrade;\n")
		b.WriteString("      proxy_set_header Connection \"upgrade\";\n")
	}
	if opts.ProxyReadTimeout > 0 {
		ms := opts.ProxyReadTimeout.Milliseconds()
		if ms < 1 {
			ms = 1
		}
		fmt.Fprintf(&b, "      proxy_read_timeout %dms;\n", ms)
	}
	b.WriteString("    }\n  }\n}\n")
	return b.String()
}

func (n *Nginx) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), nginxReadyTimeout)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port))
	for {
		if n.proc.exited() {
			return fmt.Errorf("testenv: nginx exited early: %v", n.proc.err)
		}
		var d net.Dialer
		dctx, dcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		conn, err := d.DialContext(dctx, "tcp", addr)
		dcancel()
		if err == nil {
			_ = conn.Close()
			// The port may have been taken by another process between freePortRun and
			// nginx's bind (nginx then retries its bind for seconds before it exits). nginx
			// writes its pid file only once its sockets are bound, so wait for that too.
			if n.ownsPort() {
				return nil
			}
			err = errors.New("listening, but nginx has not written its pid file yet")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testenv: nginx not listening on %s after %s: %w", addr, nginxReadyTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ownsPort reports whether nginx has bound its sockets: its pid file names this process.
func (n *Nginx) ownsPort() bool {
	b, err := os.ReadFile(filepath.Join(n.dir, "nginx.pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && pid == n.proc.cmd.Process.Pid
}

// URL is the proxied websocket URL: ws://127.0.0.1:PORT/ws or wss://... with TLS.
func (n *Nginx) URL() string {
	scheme := "ws"
	if n.tls {
		scheme = "wss"
	}
	return fmt.Sprintf("%s://127.0.0.1:%d/ws", scheme, n.Port)
}

// Addr is 127.0.0.1:PORT.
func (n *Nginx) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port)) }

// CACertPEM is the certificate to trust for wss:// (nil without TLS).
func (n *Nginx) CACertPEM() []byte {
	if n.Cert == nil {
		return nil
	}
	return n.Cert.PEM
}

// Logs returns nginx's output and error log, for failure messages.
func (n *Nginx) Logs() string {
	errLog, _ := os.ReadFile(filepath.Join(n.dir, "logs", "error.log"))
	return n.proc.logs.String() + string(errLog)
}

// Stop ends nginx early (it is also stopped in tb.Cleanup).
func (n *Nginx) Stop() { n.proc.stop() }
