package peer

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/serve"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

// benchCalls is how many calls one benchmark run makes (the loop is inside, so that
// -benchtime 1x gives a median and a maximum).
const benchCalls = 7

// BenchmarkJoinToFirstFrame measures, through an embedded serve on loopback, the time
// from "both peers joined" to the first decoded video frame in each direction, for a
// host path and a relay-only path (relay acceptance wait 0). Metrics are in ms.
func BenchmarkJoinToFirstFrame(b *testing.B) {
	for _, relay := range []bool{false, true} {
		name := "host"
		if relay {
			name = "relay"
		}
		b.Run(name, func(b *testing.B) {
			srv, err := serve.Start(context.Background(), serve.Config{Addr: "127.0.0.1:0", TURN: true,
				TURNConfig: turnserver.Config{ListenIP: "127.0.0.1"}})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			var firsts, connects []float64
			for i := 0; i < b.N; i++ {
				for j := 0; j < benchCalls; j++ {
					rep, err := RunCall(context.Background(), CallConfig{Server: srv.SignalURL(),
						ICEServers: srv.ICEServers(), RelayOnly: relay, Duration: 100 * time.Millisecond})
					if err != nil {
						b.Fatal(err)
					}
					for _, d := range rep.Directions {
						if d.JoinToFirstFrameMs == nil || (relay && !d.Selected.IsRelay()) {
							b.Fatalf("%s: no first frame or wrong pair (%v): %s", d.Name, d.Selected, d.Verdict.Finding)
						}
						firsts = append(firsts, *d.JoinToFirstFrameMs)
						if d.JoinToConnectedMs != nil {
							connects = append(connects, *d.JoinToConnectedMs)
						}
					}
				}
			}
			b.ReportMetric(quantile(firsts, 0.5), "first-frame-p50-ms")
			b.ReportMetric(quantile(firsts, 1), "first-frame-max-ms")
			b.ReportMetric(quantile(connects, 0.5), "connected-p50-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(q * float64(len(s)-1))
	return s[i]
}
