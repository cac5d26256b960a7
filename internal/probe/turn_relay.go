package probe

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// relayPacketInterval paces the relayed packets.
const relayPacketInterval = time.Millisecond

// relayDrainWait is how long to wait for stragglers after the last packet was sent.
const relayDrainWait = time.Second

// RelayStats is the result of sending packets through the relay.
type RelayStats struct {
	// Peer is the second allocation's relayed address the packets were echoed from.
	Peer string `json:"peer,omitempty"`
	// Requested is how many packets were asked for; Sent is lower when the stage's time
	// ran out first (the rest are not counted as lost).
	Requested int `json:"requested,omitempty"`
	// Sent and Received count packets; LossPct is the percentage lost.
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	LossPct  float64 `json:"loss_pct"`
	// RTT is client -> relay A -> relay B -> echo -> relay A -> client.
	RTT RTTStats `json:"rtt"`
	// PermissionRTT is the CreatePermission round trip.
	PermissionRTT Millis `json:"permission_rtt_ms"`
}

// relayTest makes a second allocation (the echo peer), installs permissions both ways and
// bounces Packets packets off it: the same path two browsers' media takes.
func (r *turnRun) relayTest(ctx context.Context, a *turnSession) bool {
	start := time.Now()
	// Many --packets need more than the default stage time (the whole probe stays bounded
	// by its own timeout).
	stage := TURNRelayTimeout
	if need := time.Duration(r.opts.Packets)*relayPacketInterval + relayDrainWait + 2*time.Second; need > stage {
		stage = need
	}
	rctx, cancel := context.WithTimeout(ctx, stage)
	defer cancel()
	fail := func(name, detail, fix string) {
		r.check(Check{Name: name, Elapsed: Millis(time.Since(start)), Detail: detail, Fix: fix})
	}

	conn, _, err := r.dial(rctx)
	if err != nil {
		fail("relay", "cannot open a second connection for the echo allocation: "+err.Error(), "the server limits connections per client?")
		return false
	}
	b := &turnSession{c: newSTUNConn(conn, r.u.Transport != "udp"), username: r.cred.username, password: r.cred.password}
	defer b.c.Close()
	if _, err := b.challenge(rctx); err != nil {
		fail("relay", "second allocation: no challenge: "+err.Error(), "")
		return false
	}
	if _, err := b.allocate(rctx); err != nil {
		detail, fix := "second allocation failed: "+err.Error(), ""
		if se, ok := asSTUNError(err); ok {
			meaning, f := codeMeaning("Allocate", se.Code, r.cred.rest)
			detail, fix = fmt.Sprintf("second allocation: %d %s", se.Code, meaning), f
		}
		fail("relay", detail, fix)
		return false
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), turnDeallocTimeout)
		b.deallocate(dctx)
		dcancel()
	}()

	stats := &RelayStats{Peer: b.relayed.String()}
	r.rep.Relay = stats
	permStart := time.Now()
	prtt, err := a.createPermission(rctx, b.relayed)
	if err == nil {
		_, err = b.createPermission(rctx, a.relayed)
	}
	pc := Check{Name: "permission", Elapsed: Millis(time.Since(permStart))}
	if err != nil {
		if se, ok := asSTUNError(err); ok {
			meaning, fix := codeMeaning("CreatePermission", se.Code, r.cred.rest)
			pc.Detail = fmt.Sprintf("CreatePermission for peer %s: %d %s", b.relayed, se.Code, meaning)
			pc.Fix = fix
		} else {
			pc.Detail = "CreatePermission failed: " + err.Error()
		}
		r.check(pc)
		return false
	}
	stats.PermissionRTT = Millis(prtt)
	pc.OK = true
	pc.Detail = fmt.Sprintf("permission for peer %s installed", b.relayed)
	r.check(pc)

	relayStart := time.Now()
	r.bounce(rctx, a, b, stats)
	c := Check{Name: "relay", Elapsed: Millis(time.Since(relayStart))}
	c.OK = stats.Received > 0 && stats.LossPct <= 5
	c.Detail = fmt.Sprintf("%d/%d packets came back (%.1f%% loss), RTT p50 %s p95 %s p99 %s",
		stats.Received, stats.Sent, stats.LossPct, stats.RTT.P50, stats.RTT.P95, stats.RTT.P99)
	if stats.Sent < stats.Requested {
		c.Detail += fmt.Sprintf(" (sending stopped after %d of %d packets: the probe's time ran out; raise --timeout)", stats.Sent, stats.Requested)
	}
	if !c.OK {
		if stats.Received == 0 {
			c.Fix = "allocations work but no data flows: the relay port range (coturn min-port/max-port, UDP) is blocked by a firewall, or external-ip is wrong"
		} else {
			c.Fix = "heavy loss through the relay: the server or its network is overloaded"
		}
	}
	r.check(c)
	return c.OK
}

// bounce sends packets from a to b's relayed address; b echoes each back.
func (r *turnRun) bounce(ctx context.Context, a, b *turnSession, stats *RelayStats) {
	n := r.opts.Packets
	sentAt := make([]time.Time, n)
	got := make([]bool, n)
	var rtts []time.Duration
	var mu sync.Mutex

	echoCtx, stopEcho := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // b: echo every Data indication back to its sender
		defer wg.Done()
		for {
			select {
			case <-echoCtx.Done():
				return
			case m := <-b.c.indications:
				if from, data, ok := dataFrom(m); ok {
					_ = b.sendTo(from, data)
				}
			}
		}
	}()
	defer func() { stopEcho(); wg.Wait() }()

	allBack := make(chan struct{})
	wg.Add(1)
	go func() { // a: collect the echoes
		defer wg.Done()
		received := 0
		for {
			select {
			case <-echoCtx.Done():
				return
			case m := <-a.c.indications:
				_, data, ok := dataFrom(m)
				if !ok || len(data) < 8 {
					continue
				}
				seq := int(binary.BigEndian.Uint64(data))
				now := time.Now()
				mu.Lock()
				if seq >= 0 && seq < n && !got[seq] && !sentAt[seq].IsZero() {
					got[seq] = true
					rtts = append(rtts, now.Sub(sentAt[seq]))
					received++
				}
				done := received == n
				mu.Unlock()
				if done {
					close(allBack)
					return
				}
			}
		}
	}()

	payload := make([]byte, 100) // about an audio packet
	ticker := time.NewTicker(relayPacketInterval)
	defer ticker.Stop()
	stats.Requested = n
	sent := 0
	deadline, hasDeadline := ctx.Deadline()
send:
	for i := 0; i < n; i++ {
		if hasDeadline && time.Until(deadline) < relayDrainWait {
			break // keep time to collect the echoes of what was sent (not loss)
		}
		binary.BigEndian.PutUint64(payload, uint64(i))
		mu.Lock()
		sentAt[i] = time.Now()
		mu.Unlock()
		if err := a.sendTo(b.relayed, payload); err != nil {
			r.logf("relay send %d: %v", i, err)
			break
		}
		sent++
		select {
		case <-ticker.C:
		case <-ctx.Done():
			break send
		}
	}
	drain := time.NewTimer(relayDrainWait)
	defer drain.Stop()
	select {
	case <-allBack:
	case <-drain.C:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	stats.Sent = sent
	stats.Received = len(rtts)
	if sent > 0 {
		stats.LossPct = 100 * float64(sent-len(rtts)) / float64(sent)
	}
	stats.RTT = rttStats(rtts)
}
