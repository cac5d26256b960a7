package load

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// raiseNoFile lifts RLIMIT_NOFILE as far as allowed and returns the soft limit now in
// force.
func raiseNoFile(want uint64) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur >= want {
		return rl.Cur
	}
	next := syscall.Rlimit{Cur: want, Max: max(rl.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		next = syscall.Rlimit{Cur: rl.Max, Max: rl.Max} // not root: up to the hard limit
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next)
	}
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur
}

// BenchmarkLoadSignalOnly runs 5,000 signal-only rooms (10,000 websockets, all open at
// once for a moment: 2,500 rooms/s, 5 s hold) against the real server on loopback, in a
// process of its own, and reports the p99 relay latency and the relayed message rate.
func BenchmarkLoadSignalOnly(b *testing.B) {
	const rooms = 5000
	// The server runs in its own process (see TestMain), so each side needs one fd per
	// websocket: 10,000 here.
	if got := raiseNoFile(2*rooms + 2048); got < 2*rooms+256 {
		b.Skipf("RLIMIT_NOFILE is %d; 5,000 rooms need about %d (raise the hard limit)", got, 2*rooms+256)
	}
	ctx := context.Background()
	url := startServeProcess(b)
	b.ResetTimer()
	var rep *Report
	var err error
	for range b.N {
		rep, err = Run(ctx, Config{
			Server: url, Mode: ModeSignal, Rooms: rooms, Ramp: 2500,
			Duration: 5 * time.Second, RoomTimeout: 30 * time.Second,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sg := rep.Signal
	exchange := rep.ElapsedMs/1000 - 5 // the hold adds 5 s of silence to every room
	b.ReportMetric(sg.RelayMs.Quantile(0.99), "p99-msg-ms")
	b.ReportMetric(sg.RelayMs.Quantile(0.50), "p50-msg-ms")
	b.ReportMetric(sg.JoinMs.Quantile(0.99), "p99-join-ms")
	b.ReportMetric(float64(sg.MessagesRelayed)/exchange, "msgs/s")
	b.ReportMetric(float64(sg.PeakConns), "peak-conns")
	b.ReportMetric(rep.Calls.SuccessPct, "success-%")
	b.ReportMetric(rep.Tester.CPUPct, "cpu-%")
	if rep.Calls.Succeeded != rooms {
		b.Logf("failures: %+v", rep.Failures)
	}
}
