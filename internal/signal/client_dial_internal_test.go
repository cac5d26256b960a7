package signal

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"
)

// classifyDialError is checked directly for the cases a loopback-only test cannot
// produce (a DNS failure needs a resolver).
func TestClassifyDialError(t *testing.T) {
	t.Parallel()
	cfg := ClientConfig{URL: "wss://signal.example:8098/ws"}
	dnsErr := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "signal.example", IsNotFound: true}}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name    string
		err     error
		resp    *http.Response
		want    []error
		notWant []error
		status  int
	}{
		{name: "dns", err: &dialStage{err: dnsErr}, want: []error{ErrDial, ErrDNS}, notWant: []error{ErrTLS, ErrUpgrade}},
		{name: "refused", err: &dialStage{err: refused}, want: []error{ErrDial, syscall.ECONNREFUSED}, notWant: []error{ErrDNS, ErrTLS}},
		{name: "tls", err: &dialStage{tls: true, err: errors.New("x509: certificate signed by unknown authority")}, want: []error{ErrTLS}, notWant: []error{ErrDial}},
		{name: "http 403", err: websocket.ErrBadHandshake, resp: &http.Response{StatusCode: 403, Body: http.NoBody}, want: []error{ErrUpgrade}, status: 403},
		{name: "timeout waiting for the upgrade", err: context.DeadlineExceeded, want: []error{ErrUpgrade, context.DeadlineExceeded}},
		{name: "cancelled", err: context.Canceled, want: []error{ErrDial, context.Canceled}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classifyDialError(cfg, tc.resp, tc.err)
			for _, w := range tc.want {
				if !errors.Is(got, w) {
					t.Errorf("%v: want errors.Is %v", got, w)
				}
			}
			for _, w := range tc.notWant {
				if errors.Is(got, w) {
					t.Errorf("%v: must not match %v", got, w)
				}
			}
			var ue *UpgradeError
			if tc.status != 0 && (!errors.As(got, &ue) || ue.Status != tc.status) {
				t.Errorf("%v: want UpgradeError with status %d", got, tc.status)
			}
			if !strings.Contains(got.Error(), cfg.URL) {
				t.Errorf("%v: want the URL in the message", got)
			}
		})
	}
}
