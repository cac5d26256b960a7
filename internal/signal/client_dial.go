package signal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"

	"github.com/gorilla/websocket"
)

// dialStage tags an error with the step of Dial it came from, so that Dial can tell a
// refused TCP connect from a TLS failure after gorilla wrapped neither.
type dialStage struct {
	tls bool
	err error
}

func (e *dialStage) Error() string { return e.err.Error() }
func (e *dialStage) Unwrap() error { return e.err }

// ClientTLSConfig builds the client TLS configuration for wss: system roots plus the PEM roots
// in caFile, or no verification at all when insecure is set.
func ClientTLSConfig(caFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if insecure {
		cfg.InsecureSkipVerify = true // the user asked for it (self-signed servers)
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: read CA file: %w", ErrTLS, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: no PEM certificate in %s", ErrTLS, caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func dialConn(ctx context.Context, cfg ClientConfig) (*websocket.Conn, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrBadURL, cfg.URL, err)
	}
	if (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%w: %q: want ws://host[:port]/path or wss://...", ErrBadURL, cfg.URL)
	}
	var tlsCfg *tls.Config
	if u.Scheme == "wss" {
		if tlsCfg, err = ClientTLSConfig(cfg.CAFile, cfg.Insecure); err != nil {
			return nil, err
		}
		tlsCfg.ServerName = u.Hostname()
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()

	netDialer := &net.Dialer{}
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := netDialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &dialStage{err: err}
			}
			return conn, nil
		},
		NetDialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			raw, err := netDialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &dialStage{err: err}
			}
			tc := tls.Client(raw, tlsCfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = raw.Close()
				return nil, &dialStage{tls: true, err: err}
			}
			return tc, nil
		},
		ReadBufferSize:  16 << 10,
		WriteBufferSize: 16 << 10,
	}
	hdr := http.Header{}
	if cfg.Origin != "" {
		hdr.Set("Origin", cfg.Origin)
	}
	conn, resp, err := d.DialContext(ctx, cfg.URL, hdr)
	if err == nil {
		return conn, nil
	}
	return nil, classifyDialError(cfg, resp, err)
}

func classifyDialError(cfg ClientConfig, resp *http.Response, err error) error {
	var st *dialStage
	if errors.As(err, &st) {
		if st.tls {
			return fmt.Errorf("%w: %s: %w", ErrTLS, cfg.URL, st.err)
		}
		var dnsErr *net.DNSError
		if errors.As(st.err, &dnsErr) {
			return fmt.Errorf("%w: %w: %s: %w", ErrDial, ErrDNS, cfg.URL, st.err)
		}
		return fmt.Errorf("%w: %s: %w", ErrDial, cfg.URL, st.err)
	}
	if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
		ue := &UpgradeError{Status: resp.StatusCode}
		if resp.Body != nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			_ = resp.Body.Close()
			ue.Body = string(b)
		}
		return fmt.Errorf("signal: dial %s: %w", cfg.URL, ue)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %s: no upgrade response within %v: %w", ErrUpgrade, cfg.URL, cfg.DialTimeout, err)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %s: %w", ErrDial, cfg.URL, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrUpgrade, cfg.URL, err)
}
