package signal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Benchmarks of the hardened server. Each does its measured work inside one call, so that
// -benchtime 1x gives meaningful numbers. The server runs in a child process (this test
// binary re-executed, see childEnv); the clients are real gorilla websockets on loopback
// in the benchmark process. Both share the machine's cores, so relay numbers include the
// clients' CPU cost.

const (
	benchRooms    = 1000
	latencyRate   = 10 // messages per second per client
	latencyPhase  = 5 * time.Second
	throughputWin = 16 // messages in flight per client
	throughputRun = 3 * time.Second
	idleConns     = 10000
)

// benchPad makes relayed frames the size of a real candidate message (~250 bytes).
var benchPad = strings.Repeat("x", 150)

// raiseNoFile lifts RLIMIT_NOFILE to at least n, or reports why it cannot.
func raiseNoFile(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= n {
		return nil
	}
	if lim.Max < n {
		lim.Max = n // works as root (CAP_SYS_RESOURCE)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit NOFILE %d: %w", n, err)
	}
	return nil
}

// benchPair is one room with two joined clients.
type benchPair struct {
	room string
	a, b *websocket.Conn
}

var benchDialer = websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}

// readCmd reads frames until one with the given cmd arrives, within 10 s.
func readCmd(c *websocket.Conn, cmd string) error {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	want := []byte(`"cmd":"` + cmd + `"`)
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", cmd, err)
		}
		if bytes.Contains(data, want) {
			return nil
		}
	}
}

// dialPairs opens n rooms with two joined clients each (a got new-peer, b resp-join).
func dialPairs(b *testing.B, url string, n int) []benchPair {
	b.Helper()
	pairs := make([]benchPair, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := atomic.Int64{}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				p := benchPair{room: fmt.Sprintf("room%d", i)}
				var err error
				if p.a, _, err = benchDialer.Dial(url, nil); err != nil {
					errs <- err
					return
				}
				if p.b, _, err = benchDialer.Dial(url, nil); err != nil {
					errs <- err
					return
				}
				pairs[i] = p
				steps := []func() error{
					func() error {
						return p.a.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"cmd":"join","roomId":%q,"uid":"a"}`, p.room))
					},
					func() error { return p.a.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"ping"}`)) },
					func() error { return readCmd(p.a, CmdPing) },
					func() error {
						return p.b.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"cmd":"join","roomId":%q,"uid":"b"}`, p.room))
					},
					func() error { return readCmd(p.a, CmdNewPeer) },
					func() error { return readCmd(p.b, CmdRespJoin) },
				}
				for _, step := range steps {
					if err := step(); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	b.Cleanup(func() {
		for _, p := range pairs {
			if p.a != nil {
				p.a.Close()
			}
			if p.b != nil {
				p.b.Close()
			}
		}
	})
	if err := <-errs; err != nil {
		b.Fatalf("setting up %d rooms: %v", n, err)
	}
	return pairs
}

// childEnv makes the benchmark binary act as the server process of a benchmark; it holds
// the childConfig as JSON. The server runs in a process of its own, as it would in
// production: its GC and scheduler see only server work, and the clients' costs stay out
// of its memory numbers. Both processes share the machine's cores.
const childEnv = "RTCCTL_SIGNAL_BENCH_SERVER"

// childConfig is the part of ServerConfig a benchmark sets in the server process.
type childConfig struct {
	RatePerSec   float64       `json:"rate"`
	PingInterval time.Duration `json:"ping"`
	IdleTimeout  time.Duration `json:"idle"`
}

// benchChild runs the server process when this binary was started as one (and then
// reports true: the calling benchmark must return).
func benchChild(b *testing.B) bool {
	v := os.Getenv(childEnv)
	if v == "" {
		return false
	}
	var cc childConfig
	if err := json.Unmarshal([]byte(v), &cc); err != nil {
		b.Fatalf("%s: %v", childEnv, err)
	}
	runChildServer(b, ServerConfig{MaxConns: -1, RatePerSec: cc.RatePerSec, PingInterval: cc.PingInterval, IdleTimeout: cc.IdleTimeout})
	return true
}

// runChildServer serves on loopback until stdin closes: /stats and /mem report, any other
// path is the signaling server.
func runChildServer(b *testing.B, cfg ServerConfig) {
	srv := NewServer(cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(srv.Stats())
	})
	mux.HandleFunc("/mem", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := srv.Stats()
		_ = json.NewEncoder(w).Encode(memReport{
			RSSKiB: readRSSKiB(), HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse,
			Goroutines: runtime.NumGoroutine(), Conns: st.Conns, Evicted: st.Evicted,
		})
	})
	mux.Handle("/", srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	fmt.Printf("ADDR %s\n", ln.Addr())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = hs.Close()
	if err := srv.Shutdown(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "server process: Shutdown: %v\n", err)
	}
}

// serverProc is a server process started by a benchmark.
type serverProc struct {
	addr string
}

// startServerProcess re-executes this binary as a server process running only the named
// benchmark (which calls benchChild first) and stops it when the benchmark ends.
func startServerProcess(b *testing.B, bench string, cc childConfig) *serverProc {
	b.Helper()
	cfgJSON, _ := json.Marshal(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$", "-test.bench=^"+bench+"$", "-test.benchtime=1x")
	cmd.Env = append(os.Environ(), childEnv+"="+string(cfgJSON))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start server process: %v", err)
	}
	b.Cleanup(func() {
		stdin.Close() // the server shuts down and exits
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addrCh <- a
			}
		}
		close(addrCh)
	}()
	select {
	case a := <-addrCh:
		if a == "" {
			b.Fatal("server process ended before listening")
		}
		return &serverProc{addr: a}
	case <-time.After(60 * time.Second):
		b.Fatal("server process did not start")
	}
	return nil
}

func (p *serverProc) url() string { return "ws://" + p.addr + "/ws" }

func (p *serverProc) get(b *testing.B, path string, v any) {
	b.Helper()
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + p.addr + path)
	if err != nil {
		b.Fatalf("server process %s: %v", path, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		b.Fatalf("server process %s: %v", path, err)
	}
}

func (p *serverProc) stats(b *testing.B) ServerStats {
	var st ServerStats
	p.get(b, "/stats", &st)
	return st
}

func (p *serverProc) mem(b *testing.B) memReport {
	var m memReport
	p.get(b, "/mem", &m)
	return m
}

// readInto reads the next message into buf (reused, grown as needed) without allocating,
// so that the benchmark clients add little GC work to the process they share with the
// server.
func readInto(c *websocket.Conn, buf []byte) ([]byte, error) {
	_, r, err := c.NextReader()
	if err != nil {
		return buf, err
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// relayFrame is a candidate relay whose msg starts with tag (and, for latency, a send
// time in ns since t0), padded to a realistic size.
func relayFrame(room, from, to, tag string) []byte {
	return fmt.Appendf(nil, `{"cmd":"candidate","roomId":%q,"uid":%q,"remoteUid":%q,"msg":"%s;%s"}`,
		room, from, to, tag, benchPad)
}

// BenchmarkServerRelayLatency: 1,000 rooms, both clients of each room send 10 relays/s
// for 5 s (20,000 msg/s in all); reports the one-way relay latency percentiles as seen
// by the receiving client (send timestamp in the message, monotonic clock).
func BenchmarkServerRelayLatency(b *testing.B) {
	if benchChild(b) {
		return
	}
	if err := raiseNoFile(4*benchRooms + 1000); err != nil {
		b.Skipf("need %d file descriptors: %v", 4*benchRooms+1000, err)
	}
	srv := startServerProcess(b, "BenchmarkServerRelayLatency", childConfig{})
	pairs := dialPairs(b, srv.url(), benchRooms)
	t0 := time.Now()
	tsKey := []byte(`"msg":"t`)
	b.ResetTimer()
	{ // one call is one measurement, whatever b.N (the clients are used up by it)
		ctx, cancel := context.WithTimeout(context.Background(), latencyPhase)
		var readers, senders sync.WaitGroup
		lat := make([][]time.Duration, 2*len(pairs))
		var sent atomic.Int64
		for i, p := range pairs {
			for j, side := range []struct {
				c        *websocket.Conn
				from, to string
			}{{p.a, "a", "b"}, {p.b, "b", "a"}} {
				slot := 2*i + j
				c := side.c
				readers.Add(1)
				go func() {
					defer readers.Done()
					samples := make([]time.Duration, 0, int(latencyPhase.Seconds())*latencyRate+8)
					data := make([]byte, 0, 1024)
					for {
						var err error
						data, err = readInto(c, data)
						now := time.Since(t0)
						if err != nil {
							lat[slot] = samples
							return
						}
						k := bytes.Index(data, tsKey)
						if k < 0 {
							continue
						}
						rest := data[k+len(tsKey):]
						end := bytes.IndexByte(rest, ';')
						if end < 0 {
							continue
						}
						if ns, err := strconv.ParseInt(string(rest[:end]), 10, 64); err == nil {
							samples = append(samples, now-time.Duration(ns))
						}
					}
				}()
				senders.Add(1)
				go func() {
					defer senders.Done()
					period := time.Second / latencyRate
					select { // spread the senders over the period
					case <-time.After(rand.N(period)):
					case <-ctx.Done():
						return
					}
					tick := time.NewTicker(period)
					defer tick.Stop()
					head, _, _ := bytes.Cut(relayFrame(p.room, side.from, side.to, "t"), []byte(`"msg":"t`))
					head = append(head, `"msg":"t`...)
					tail := []byte(";" + benchPad + `"}`)
					var frame []byte
					for {
						frame = append(frame[:0], head...)
						frame = strconv.AppendInt(frame, int64(time.Since(t0)), 10)
						frame = append(frame, tail...)
						_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
						if err := c.WriteMessage(websocket.TextMessage, frame); err != nil {
							return
						}
						sent.Add(1)
						select {
						case <-tick.C:
						case <-ctx.Done():
							return
						}
					}
				}()
			}
		}
		senders.Wait()
		cancel()
		time.Sleep(300 * time.Millisecond) // let the last relays land
		for _, p := range pairs {
			p.a.Close()
			p.b.Close()
		}
		readers.Wait()
		var all []time.Duration
		for _, s := range lat {
			all = append(all, s...)
		}
		b.StopTimer()
		if len(all) == 0 {
			b.Fatal("no relay arrived")
		}
		slices.Sort(all)
		pct := func(p float64) float64 {
			return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds())
		}
		b.ReportMetric(pct(0.50), "p50_us")
		b.ReportMetric(pct(0.99), "p99_us")
		b.ReportMetric(pct(0.999), "p99.9_us")
		b.ReportMetric(float64(all[len(all)-1].Microseconds()), "max_us")
		b.ReportMetric(float64(len(all))/latencyPhase.Seconds(), "msgs/s")
		b.ReportMetric(float64(sent.Load()-int64(len(all))), "lost")
		b.ReportMetric(0, "ns/op")
		if st := srv.stats(b); st.DroppedSlow > 0 || st.Evicted > 0 {
			b.Errorf("server dropped clients during the run: %+v", st)
		}
	}
}

// BenchmarkServerRelayThroughput: 1,000 rooms in a closed loop (each client keeps 16
// messages in flight; the peer echoes each one back, which is a relay too). Reports the
// server's relayed messages per second over a 3 s window after 0.5 s of warm-up.
func BenchmarkServerRelayThroughput(b *testing.B) {
	if benchChild(b) {
		return
	}
	if err := raiseNoFile(4*benchRooms + 1000); err != nil {
		b.Skipf("need %d file descriptors: %v", 4*benchRooms+1000, err)
	}
	srv := startServerProcess(b, "BenchmarkServerRelayThroughput", childConfig{RatePerSec: -1})
	pairs := dialPairs(b, srv.url(), benchRooms)
	b.ResetTimer()
	{ // one call is one measurement, whatever b.N (the clients are used up by it)
		var stop atomic.Bool
		var wg sync.WaitGroup
		for _, p := range pairs {
			for _, side := range []struct {
				c        *websocket.Conn
				from, to string
			}{{p.a, "a", "b"}, {p.b, "b", "a"}} {
				c := side.c
				orig := relayFrame(p.room, side.from, side.to, "o")
				echo := relayFrame(p.room, side.from, side.to, "e")
				origMark := []byte(`"msg":"o;`)
				wg.Add(1)
				go func() { // the only writer of c: it sends what it reads demands
					defer wg.Done()
					for range throughputWin {
						if c.WriteMessage(websocket.TextMessage, orig) != nil {
							return
						}
					}
					data := make([]byte, 0, 1024)
					for {
						var err error
						if data, err = readInto(c, data); err != nil {
							return
						}
						if stop.Load() {
							continue
						}
						out := orig
						if bytes.Contains(data, origMark) {
							out = echo
						}
						if c.WriteMessage(websocket.TextMessage, out) != nil {
							return
						}
					}
				}()
			}
		}
		time.Sleep(500 * time.Millisecond)
		r0, t0 := srv.stats(b).Relayed, time.Now()
		time.Sleep(throughputRun)
		r1, el := srv.stats(b).Relayed, time.Since(t0)
		stop.Store(true)
		time.Sleep(300 * time.Millisecond)
		for _, p := range pairs {
			p.a.Close()
			p.b.Close()
		}
		wg.Wait()
		b.StopTimer()
		b.ReportMetric(float64(r1-r0)/el.Seconds(), "msgs/s")
		b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
		b.ReportMetric(0, "ns/op")
		if st := srv.stats(b); st.DroppedSlow > 0 {
			b.Errorf("server dropped slow clients: %+v", st)
		}
	}
}

// memReport is what the server process reports about itself after a GC.
type memReport struct {
	RSSKiB     int64  `json:"rssKiB"`
	HeapInuse  uint64 `json:"heapInuse"`
	StackInuse uint64 `json:"stackInuse"`
	Goroutines int    `json:"goroutines"`
	Conns      int    `json:"conns"`
	Evicted    uint64 `json:"evicted"`
}

func readRSSKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// BenchmarkServerIdleConnMemory: 10,000 idle connections with liveness on (the server
// pings every second and the clients answer). The server runs in a child process (this
// test binary re-executed), so its numbers exclude the clients: rss_KiB/conn is the
// child's VmRSS growth (after GC and FreeOSMemory) per connection, heap+stack_KiB/conn the
// growth of Go's HeapInuse+StackInuse.
func BenchmarkServerIdleConnMemory(b *testing.B) {
	if benchChild(b) {
		return
	}
	need := uint64(idleConns + 1000)
	if err := raiseNoFile(need); err != nil {
		b.Skipf("need %d file descriptors for %d connections: %v", need, idleConns, err)
	}
	measureIdleConns(b) // one call is one measurement, whatever b.N
}

func measureIdleConns(b *testing.B) {
	srv := startServerProcess(b, "BenchmarkServerIdleConnMemory", childConfig{PingInterval: time.Second, IdleTimeout: 10 * time.Second})
	mem := func() memReport { return srv.mem(b) }
	url := srv.url()
	// Warm up the server's paths with one connection, then take the baseline.
	if c, _, err := benchDialer.Dial(url, nil); err == nil {
		c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	before := mem()

	b.ResetTimer()
	conns := make([]*websocket.Conn, idleConns)
	var wg sync.WaitGroup
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		wg.Wait()
	}()
	next := atomic.Int64{}
	var dialErr atomic.Pointer[error]
	var dialers sync.WaitGroup
	for range 16 {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= idleConns || dialErr.Load() != nil {
					return
				}
				c, _, err := benchDialer.Dial(url, nil)
				if err != nil {
					dialErr.Store(&err)
					return
				}
				conns[i] = c
				wg.Add(1)
				go func() { // reads, so gorilla answers the server's pings
					defer wg.Done()
					for {
						if _, _, err := c.ReadMessage(); err != nil {
							return
						}
					}
				}()
			}
		}()
	}
	dialers.Wait()
	if p := dialErr.Load(); p != nil {
		b.Fatalf("dialing %d connections: %v", idleConns, *p)
	}
	time.Sleep(2500 * time.Millisecond) // two ping rounds
	after := mem()
	b.StopTimer()
	if after.Conns < idleConns*9/10 {
		b.Fatalf("server holds %d connections (evicted %d), want %d", after.Conns, after.Evicted, idleConns)
	}
	if after.Conns != idleConns {
		b.Logf("server holds %d of %d connections; %d evicted (machine overloaded?)", after.Conns, idleConns, after.Evicted)
	}
	n := float64(after.Conns - before.Conns)
	b.ReportMetric(float64(after.RSSKiB-before.RSSKiB)/n, "rss_KiB/conn")
	b.ReportMetric(float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse))/1024/n, "heap+stack_KiB/conn")
	b.ReportMetric(float64(after.Goroutines-before.Goroutines)/n, "goroutines/conn")
	b.ReportMetric(float64(after.Evicted), "evicted")
	b.ReportMetric(0, "ns/op")
}
