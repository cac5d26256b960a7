package signal_test

import (
	"errors"
	"testing"

	"github.com/rtcctl/rtcctl/internal/signal"
)

// FuzzDecode feeds arbitrary frames through everything a server or client does with one:
// Decode, Validate, DecodeCandidate and DecodeSDP on msg. It checks that nothing panics,
// that every error matches a sentinel, and that whatever decodes re-encodes to something
// that decodes to the same value. Run it with
//
//	go test ./internal/signal -run '^$' -fuzz FuzzDecode -fuzztime 30s
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"cmd":"join","roomId":"100","uid":"42"}`,
		`{"cmd":"join","roomId":100,"uid":42}`,
		`{"cmd":"join","roomId":1.0e2,"uid":-0}`,
		`{"cmd":"leave","roomId":"100","uid":"42"}`,
		`{"cmd":"new-peer","remoteUid":"7"}`,
		`{"cmd":"offer","roomId":"1","uid":"a","remoteUid":"b","msg":"{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}"}`,
		`{"cmd":"answer","roomId":"1","uid":"a","remoteUid":"b","msg":"{\"sdp\":\"v=0\\r\\n\",\"type\":\"answer\"}"}`,
		`{"cmd":"candidate","roomId":"1","uid":"a","remoteUid":"b","msg":"{\"label\":0,\"id\":\"0\",\"candidate\":\"candidate:1 1 udp 1 127.0.0.1 9 typ host\"}"}`,
		`{"cmd":"candidate","roomId":"1","uid":"a","remoteUid":"b","msg":"{\"candidate\":\"candidate:1 1 udp 1 127.0.0.1 9 typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0,\"usernameFragment\":\"u\"}"}`,
		`{"cmd":"candidate","roomId":"1","uid":"a","remoteUid":"b","msg":"{\"label\":\"0\",\"id\":1,\"candidate\":\"\"}"}`,
		`{"cmd":"error","code":400,"reason":"bad"}`,
		`{"cmd":"full","roomId":"1","uid":"c"}`,
		`{"cmd":"ping"}`,
		`null`, `[]`, `5`, `"x"`, `{}`, `{"cmd":5}`, `{"cmd":"join","roomId":{}}`, `{"cmd":"offer","msg":5}`,
		`{"cmd":"join","roomId":1e400,"uid":"\ud800"}`,
		"{\"cmd\":\"join\",\"uid\":\"\xff\xfe\"}",
	} {
		f.Add([]byte(seed))
	}
	sentinels := []error{signal.ErrMalformed, signal.ErrNoCmd, signal.ErrUnknownCmd, signal.ErrBadField}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := signal.Decode(frame)
		if err != nil {
			if !matchesOne(err, sentinels) {
				t.Fatalf("Decode(%q) error %v matches no sentinel", frame, err)
			}
			return
		}
		_ = m.Validate()
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("Encode(%+v): %v", m, err)
		}
		m2, err := signal.Decode(enc)
		if err != nil {
			t.Fatalf("re-decode of %s (from %q): %v", enc, frame, err)
		}
		if m2 != m {
			t.Fatalf("round trip changed the message:\nframe %q\nfirst  %+v\nsecond %+v", frame, m, m2)
		}
		if m.Msg == "" {
			return
		}
		if d, err := signal.DecodeSDP(m.Msg); err == nil {
			d2, err := signal.DecodeSDP(signal.EncodeSDP(d))
			if err != nil || d2 != d {
				t.Fatalf("SDP round trip: %+v -> %+v, %v", d, d2, err)
			}
		} else if !errors.Is(err, signal.ErrBadField) {
			t.Fatalf("DecodeSDP error %v is not ErrBadField", err)
		}
		c, err := signal.DecodeCandidate(m.Msg)
		if err != nil {
			if !errors.Is(err, signal.ErrBadCandidate) {
				t.Fatalf("DecodeCandidate error %v is not ErrBadCandidate", err)
			}
			return
		}
		for _, format := range []signal.CandidateFormat{signal.FormatAndroid, signal.FormatWeb} {
			if c.Candidate != "" || format == signal.FormatWeb {
				checkCandidateRoundTrip(t, c, format)
			}
		}
	})
}

// checkCandidateRoundTrip: what was set survives an encode/decode in format f. (Android's
// form fills a missing label/id with 0/"0", so unset fields are not compared.)
func checkCandidateRoundTrip(t *testing.T, c signal.Candidate, f signal.CandidateFormat) {
	t.Helper()
	enc := c.Encode(f)
	c2, err := signal.DecodeCandidate(enc)
	if err != nil {
		t.Fatalf("candidate %+v encoded as %s does not decode: %v", c, enc, err)
	}
	if c2.Format != f || c2.Candidate != c.Candidate {
		t.Fatalf("candidate %s: format %s candidate %q, want %s %q", enc, c2.Format, c2.Candidate, f, c.Candidate)
	}
	if c.SDPMid != nil && (c2.SDPMid == nil || *c2.SDPMid != *c.SDPMid) {
		t.Fatalf("candidate %s lost sdpMid %q", enc, *c.SDPMid)
	}
	if c.SDPMLineIndex != nil && (c2.SDPMLineIndex == nil || *c2.SDPMLineIndex != *c.SDPMLineIndex) {
		t.Fatalf("candidate %s lost sdpMLineIndex %d", enc, *c.SDPMLineIndex)
	}
	if f == signal.FormatWeb && !sameCandidate(withFormat(c, f), c2) {
		t.Fatalf("web candidate round trip: %+v -> %+v", c, c2)
	}
}

func withFormat(c signal.Candidate, f signal.CandidateFormat) signal.Candidate {
	c.Format = f
	return c
}

func matchesOne(err error, targets []error) bool {
	n := 0
	for _, target := range targets {
		if errors.Is(err, target) {
			n++
		}
	}
	return n == 1
}
