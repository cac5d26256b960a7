package turnserver

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/rtcctl/rtcctl/internal/turncred"
)

// BenchmarkAllocate measures a full UDP allocation (401 challenge, authenticated
// Allocate, then deallocation) with fresh REST credentials, one client at a time. With
// -benchtime 1x it still times benchAllocations allocations.
func BenchmarkAllocate(b *testing.B) {
	const benchAllocations = 200
	s, err := Start(Config{Secret: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for range b.N {
		for range benchAllocations {
			u, p := turncred.Generate("bench", "b", time.Hour, time.Now())
			conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			cl, err := turn.NewClient(&turn.ClientConfig{
				STUNServerAddr: s.Addr(), TURNServerAddr: s.Addr(), Conn: conn,
				Username: u, Password: p, Realm: s.Realm(), LoggerFactory: pionLogs{logf: discard},
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := cl.Listen(); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			relay, err := cl.AllocateWithContext(ctx)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			_ = relay.Close()
			cl.Close()
			_ = conn.Close()
			n++
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(el.Microseconds())/float64(n), "us/alloc")
	b.ReportMetric(float64(n)/el.Seconds(), "allocs/s")
}

// BenchmarkRelayUDP measures packets relayed from a plain UDP peer through an allocation
// to the TURN client on loopback (1200-byte datagrams, like video RTP), paced in windows
// so the kernel buffers do not overflow; it reports throughput and the delivery ratio.
func BenchmarkRelayUDP(b *testing.B) {
	const (
		packets = 20000
		window  = 64
		size    = 1200
	)
	s, err := Start(Config{Users: map[string]string{"u": "p"}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: s.Addr(), TURNServerAddr: s.Addr(), Conn: conn,
		Username: "u", Password: "p", Realm: s.Realm(), LoggerFactory: pionLogs{logf: discard},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		b.Fatal(err)
	}
	relay, err := cl.Allocate()
	if err != nil {
		b.Fatal(err)
	}
	defer relay.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close()
	if _, err := relay.WriteTo([]byte("open"), peer.LocalAddr()); err != nil { // permission
		b.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := peer.ReadFrom(buf); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, size)
	b.ResetTimer()
	var sent, got int
	start := time.Now()
	for range b.N {
		for i := 0; i < packets; i += window {
			for j := 0; j < window; j++ {
				if _, err := peer.WriteTo(payload, relay.LocalAddr()); err != nil {
					b.Fatal(err)
				}
				sent++
			}
			for j := 0; j < window; j++ {
				_ = relay.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				if _, _, err := relay.ReadFrom(buf); err != nil {
					break // lost in the window; move on
				}
				got++
			}
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(got)/el.Seconds(), "pkts/s")
	b.ReportMetric(float64(got*size*8)/el.Seconds()/1e6, "Mbit/s")
	b.ReportMetric(float64(got)/float64(sent), "delivered")
}
