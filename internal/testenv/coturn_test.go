package testenv

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

func TestStartCoturnAnswersBinding(t *testing.T) {
	t.Parallel()
	c := StartCoturn(t, CoturnOptions{TLS: true, RFC5780: true})
	if len(c.URLs()) != 3 {
		t.Fatalf("URLs = %v, want udp, tcp and tls", c.URLs())
	}
	conn, err := net.Dial("udp", c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := conn.Write(req.Raw); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no binding answer: %v\n%s", err, c.Logs())
	}
	var res stun.Message
	if err := stun.Decode(buf[:n], &res); err != nil {
		t.Fatal(err)
	}
	var other stun.OtherAddress
	if err := other.GetFrom(&res); err != nil {
		t.Fatalf("RFC5780 mode: no OTHER-ADDRESS: %v", err)
	}
	if other.IP.String() != "127.0.0.2" {
		t.Errorf("OTHER-ADDRESS = %v, want 127.0.0.2", other)
	}
}
