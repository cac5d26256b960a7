package load

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rtcctl/rtcctl/internal/stats"
)

// cpuTime is the process's user+system CPU time so far, and its peak RSS in MB.
func cpuTime() (time.Duration, float64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, float64(ru.Maxrss) / 1024 // Linux reports kB
}

// tester watches the load generator: CPU time and its own ticker's lag.
type tester struct {
	start    time.Time
	startCPU time.Duration
	mu       sync.Mutex
	tickLag  *stats.Dist
	done     chan struct{}
	wg       sync.WaitGroup
}

func startTester(ctx context.Context) *tester {
	cpu, _ := cpuTime()
	t := &tester{start: time.Now(), startCPU: cpu, tickLag: stats.New(), done: make(chan struct{})}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tk := time.NewTicker(tickInterval)
		defer tk.Stop()
		prev := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.done:
				return
			case now := <-tk.C:
				lag := now.Sub(prev) - tickInterval
				prev = now
				t.mu.Lock()
				t.tickLag.Add(float64(lag) / float64(time.Millisecond))
				t.mu.Unlock()
			}
		}
	}()
	return t
}

// stop ends the watcher and returns the tester's stats (StartLagMs is filled in by Run).
func (t *tester) stop() TesterStats {
	close(t.done)
	t.wg.Wait()
	cpu, rss := cpuTime()
	wall := time.Since(t.start)
	ts := TesterStats{
		Cores:      runtime.GOMAXPROCS(0),
		CPUSeconds: (cpu - t.startCPU).Seconds(),
		MaxRSSMB:   rss,
		TickLagMs:  t.tickLag,
		StartLagMs: stats.New(),
	}
	ts.LoadAvg1 = loadAvg1()
	if wall > 0 && ts.Cores > 0 {
		ts.CPUPct = 100 * ts.CPUSeconds / wall.Seconds() / float64(ts.Cores)
	}
	return ts
}

// loadAvg1 reads the 1-minute load average from /proc/loadavg (0 when unavailable).
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
