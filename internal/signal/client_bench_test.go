package signal_test

import (
	"sort"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/signal/signaltest"
)

// BenchmarkClientRelayLegacy measures the client plus the legacy stand-in on loopback:
// one-way relay latency of candidate messages sent one at a time (p50/p99 in µs, from
// Send to the receiver's Event.At) and the pipelined throughput (msgs/s) of a burst.
// Each iteration does the whole measured loop, so -benchtime 1x gives real numbers.
func BenchmarkClientRelayLegacy(b *testing.B) {
	const (
		pingPong = 2000
		burst    = 20000
	)
	srv := signaltest.StartLegacy(b)
	room, ua, ub := signal.StringID("bench"), signal.StringID("a"), signal.StringID("b")
	a, c := dial(b, srv.URL()), dial(b, srv.URL())
	if err := a.Join(room, ua); err != nil {
		b.Fatal(err)
	}
	expectSilence(b, a, 50*time.Millisecond)
	if err := c.Join(room, ub); err != nil {
		b.Fatal(err)
	}
	wait(b, a, signal.CmdNewPeer)
	wait(b, c, signal.CmdRespJoin)
	mid, idx := "0", uint16(0)
	cand := signal.Candidate{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", SDPMid: &mid, SDPMLineIndex: &idx}
	next := func() signal.Event {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				b.Fatalf("connection ended: %v", c.Err())
			}
			return ev
		case <-time.After(5 * time.Second):
			b.Fatal("relay timed out")
		}
		return signal.Event{}
	}
	b.ResetTimer()
	var lat []time.Duration
	var rate float64
	var perMsg time.Duration
	for i := 0; i < b.N; i++ {
		lat = lat[:0]
		ppStart := time.Now()
		for j := 0; j < pingPong; j++ {
			t0 := time.Now()
			if err := a.SendCandidate(room, ua, ub, cand, signal.FormatAndroid); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, next().At.Sub(t0))
		}
		perMsg = time.Since(ppStart) / pingPong
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			for j := 0; j < burst; j++ {
				if err := a.SendCandidate(room, ua, ub, cand, signal.FormatWeb); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for j := 0; j < burst; j++ {
			next()
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		rate = burst / time.Since(start).Seconds()
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(float64(perMsg.Microseconds()), "seq-µs/msg")
	b.ReportMetric(0, "ns/op")
}
