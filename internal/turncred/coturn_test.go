package turncred_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/rtcctl/rtcctl/internal/testenv"
	"github.com/rtcctl/rtcctl/internal/turncred"
)

// TestCoturnAcceptsGeneratedCredentials checks Generate against the reference
// implementation: Debian coturn with --use-auth-secret accepts a fresh credential and
// refuses an expired one and one made with another secret.
func TestCoturnAcceptsGeneratedCredentials(t *testing.T) {
	t.Parallel()
	const secret = "coturn-shared-secret"
	ct := testenv.StartCoturn(t, testenv.CoturnOptions{StaticAuthSecret: secret})
	allocate := func(user, pass string) error {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cl, err := turn.NewClient(&turn.ClientConfig{
			STUNServerAddr: ct.Addr(), TURNServerAddr: ct.Addr(), Conn: conn,
			Username: user, Password: pass, Realm: ct.Realm,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		relay, err := cl.AllocateWithContext(ctx)
		if err != nil {
			return err
		}
		return relay.Close()
	}
	now := time.Now()
	u, p := turncred.Generate(secret, "alice", time.Hour, now)
	if err := allocate(u, p); err != nil {
		t.Fatalf("coturn refused a fresh credential %q: %v\n%s", u, err, ct.Logs())
	}
	u, p = turncred.Generate(secret, "", time.Hour, now)
	if err := allocate(u, p); err != nil {
		t.Fatalf("coturn refused a bare-expiry credential %q: %v", u, err)
	}
	u, p = turncred.Generate(secret, "alice", -time.Minute, now)
	if err := allocate(u, p); err == nil {
		t.Fatal("coturn accepted an expired credential: the expiry is not where coturn reads it")
	}
	u, p = turncred.Generate("other", "alice", time.Hour, now)
	if err := allocate(u, p); err == nil {
		t.Fatal("coturn accepted a credential made with another secret")
	}
}
