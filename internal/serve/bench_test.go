package serve

import (
	"context"
	"io"
	"testing"
	"time"
)

// BenchmarkConfigRequest measures GET /config (fresh REST credentials each time) over one
// keep-alive connection; with -benchtime 1x it still times benchRequests requests.
func BenchmarkConfigRequest(b *testing.B) {
	const benchRequests = 500
	s, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", TURN: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	hc := httpClient(s)
	defer hc.CloseIdleConnections()
	url := s.HTTPURL() + "config"
	b.ResetTimer()
	start := time.Now()
	n := 0
	for range b.N {
		for range benchRequests {
			resp, err := hc.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
			n++
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(el.Microseconds())/float64(n), "us/req")
	b.ReportMetric(float64(n)/el.Seconds(), "req/s")
}
