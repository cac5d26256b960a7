package probe

import (
	"context"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/testenv"
)

// benchRounds is how many full reports each variant makes per benchmark iteration, so that
// -benchtime 1x still gives a median.
const benchRounds = 5

// BenchmarkProbeTURNCoturn measures a full probe-turn report (udp + tcp URLs, 50 relayed
// round trips each) against a local coturn, without and with the relay-only call, side by
// side with coturn's own client, turnutils_uclient -y (client-to-client, 50 messages, udp
// and tcp run concurrently like the probe's URLs) on the same server. Metrics are medians in
// milliseconds per full report.
func BenchmarkProbeTURNCoturn(b *testing.B) {
	ct := testenv.StartCoturn(b, testenv.CoturnOptions{Users: map[string]string{"bench": "bench-pass"}})
	uclient, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		b.Skip("coturn's turnutils_uclient not installed: run scripts/deps.sh")
	}
	urls := []string{ct.UDPURL(), ct.TCPURL()}
	probeOnce := func(call bool) time.Duration {
		start := time.Now()
		rep := TURN(context.Background(), TURNOptions{URLs: urls, Username: "bench", Password: "bench-pass", NoCall: !call})
		el := time.Since(start)
		if !rep.OK {
			b.Fatalf("probe failed:\n%s\n%s", dump(rep), ct.Logs())
		}
		return el
	}
	uclientOnce := func() time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		outs := make([][]byte, 2)
		for i, tcp := range []bool{false, true} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				args := []string{"-y", "-c", "-u", "bench", "-w", "bench-pass", "-n", "50", "-z", "1", "-p", strconv.Itoa(ct.Port)}
				if tcp {
					args = append([]string{"-t"}, args...)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				outs[i], errs[i] = exec.CommandContext(ctx, uclient, append(args, ct.Host)...).CombinedOutput()
			}()
		}
		wg.Wait()
		for i := range errs {
			if errs[i] != nil || !strings.Contains(string(outs[i]), "Total lost packets 0 ") {
				b.Fatalf("turnutils_uclient: %v\n%s", errs[i], outs[i])
			}
		}
		return time.Since(start)
	}
	var noCall, withCall, uc []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < benchRounds; r++ {
			noCall = append(noCall, probeOnce(false))
			withCall = append(withCall, probeOnce(true))
		}
		uc = append(uc, uclientOnce())
	}
	b.StopTimer()
	med := func(d []time.Duration) float64 {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[len(s)/2]) / float64(time.Millisecond)
	}
	b.ReportMetric(med(noCall), "ms/report-nocall")
	b.ReportMetric(med(withCall), "ms/report-call")
	b.ReportMetric(med(uc), "ms/uclient-y")
	b.ReportMetric(0, "ns/op") // the per-op wall time mixes all three; the metrics above are the result
	if m := med(withCall); m > 500 {
		b.Logf("full report with call took %.0f ms, over the 0.5 s target", m)
	}
}
