package signal_test

import (
	"errors"
	"testing"

	"github.com/rtcctl/rtcctl/internal/signal"
)

const hostCand = "candidate:842163049 1 udp 1677729535 127.0.0.1 50000 typ host generation 0"

func sp(s string) *string  { return &s }
func u16(n uint16) *uint16 { return &n }
func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func sameCandidate(a, b signal.Candidate) bool {
	eqS := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	eqU := func(x, y *uint16) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Candidate == b.Candidate && a.Format == b.Format && eqS(a.SDPMid, b.SDPMid) &&
		eqU(a.SDPMLineIndex, b.SDPMLineIndex) && eqS(a.UsernameFragment, b.UsernameFragment)
}

func TestDecodeCandidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  string
		want signal.Candidate
	}{
		{
			name: "android: label number, id string",
			msg:  `{"label":0,"id":"0","candidate":"` + hostCand + `"}`,
			want: signal.Candidate{Candidate: hostCand, SDPMid: sp("0"), SDPMLineIndex: u16(0), Format: signal.FormatAndroid},
		},
		{
			name: "android: label as string \"0\"",
			msg:  `{"label":"0","id":"audio","candidate":"` + hostCand + `"}`,
			want: signal.Candidate{Candidate: hostCand, SDPMid: sp("audio"), SDPMLineIndex: u16(0), Format: signal.FormatAndroid},
		},
		{
			name: "android: id as number",
			msg:  `{"label":1,"id":1,"candidate":"` + hostCand + `"}`,
			want: signal.Candidate{Candidate: hostCand, SDPMid: sp("1"), SDPMLineIndex: u16(1), Format: signal.FormatAndroid},
		},
		{
			name: "android: label only",
			msg:  `{"label":2,"candidate":"` + hostCand + `"}`,
			want: signal.Candidate{Candidate: hostCand, SDPMLineIndex: u16(2), Format: signal.FormatAndroid},
		},
		{
			name: "android: label 1.0",
			msg:  `{"label":1.0,"id":"0","candidate":"` + hostCand + `"}`,
			want: signal.Candidate{Candidate: hostCand, SDPMid: sp("0"), SDPMLineIndex: u16(1), Format: signal.FormatAndroid},
		},
		{
			name: "web: RTCIceCandidate.toJSON",
			msg:  `{"candidate":"` + hostCand + `","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}`,
			want: signal.Candidate{Candidate: hostCand, SDPMid: sp("0"), SDPMLineIndex: u16(0), UsernameFragment: sp("abcd"), Format: signal.FormatWeb},
		},
		{
			name: "web: null sdpMid, index set",
			msg:  `{"candidate":"` + hostCand + `","sdpMid":null,"sdpMLineIndex":3}`,
			want: signal.Candidate{Candidate: hostCand, SDPMLineIndex: u16(3), Format: signal.FormatWeb},
		},
		{
			name: "web: end of candidates",
			msg:  `{"candidate":"","sdpMid":null,"sdpMLineIndex":null}`,
			want: signal.Candidate{Candidate: "", Format: signal.FormatWeb},
		},
		{
			name: "web fields win over android ones",
			msg:  `{"label":5,"id":"x","candidate":"` + hostCand + `","sdpMid":"0","sdpMLineIndex":0}`,
			want: signal.Candidate{Candidate: hostCand, SDPMid: sp("0"), SDPMLineIndex: u16(0), Format: signal.FormatAndroid},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := signal.DecodeCandidate(tc.msg)
			if err != nil {
				t.Fatalf("DecodeCandidate: %v", err)
			}
			if !sameCandidate(got, tc.want) {
				t.Fatalf("got  %+v mid=%s\nwant %+v mid=%s", got, deref(got.SDPMid), tc.want, deref(tc.want.SDPMid))
			}
		})
	}
}

func TestDecodeCandidateErrors(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{
		``, `not json`, `null`, `[]`, `5`, `{}`,
		`{"candidate":5,"sdpMid":"0"}`,
		`{"candidate":"` + hostCand + `"}`, // neither mid nor index
		`{"label":"x","id":"0","candidate":"c"}`,
		`{"label":-1,"id":"0","candidate":"c"}`,
		`{"label":1.5,"id":"0","candidate":"c"}`,
		`{"label":70000,"id":"0","candidate":"c"}`,
		`{"label":"0x1","id":"0","candidate":"c"}`,
		`{"label":{},"id":"0","candidate":"c"}`,
		`{"label":0,"id":{},"candidate":"c"}`,
		`{"label":0,"id":"0"}`, // no candidate field
		`{"candidate":"c","sdpMid":"0","sdpMLineIndex":"zero"}`,
	} {
		if c, err := signal.DecodeCandidate(msg); !errors.Is(err, signal.ErrBadCandidate) {
			t.Errorf("DecodeCandidate(%s) = %+v, %v; want ErrBadCandidate", msg, c, err)
		}
	}
}

func TestCandidateEncode(t *testing.T) {
	t.Parallel()
	full := signal.Candidate{Candidate: hostCand, SDPMid: sp("0"), SDPMLineIndex: u16(0), UsernameFragment: sp("uf")}
	tests := []struct {
		name string
		c    signal.Candidate
		f    signal.CandidateFormat
		want string
	}{
		{name: "android", c: full, f: signal.FormatAndroid, want: `{"label":0,"id":"0","candidate":"` + hostCand + `"}`},
		{name: "web", c: full, f: signal.FormatWeb, want: `{"candidate":"` + hostCand + `","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"uf"}`},
		{name: "android fills a missing id with \"0\"", c: signal.Candidate{Candidate: "c", SDPMLineIndex: u16(1)}, f: signal.FormatAndroid, want: `{"label":1,"id":"0","candidate":"c"}`},
		{name: "android fills a missing label with 0", c: signal.Candidate{Candidate: "c", SDPMid: sp("video")}, f: signal.FormatAndroid, want: `{"label":0,"id":"video","candidate":"c"}`},
		{name: "web omits unset fields", c: signal.Candidate{Candidate: "c", SDPMid: sp("1")}, f: signal.FormatWeb, want: `{"candidate":"c","sdpMid":"1"}`},
		{name: "unknown format falls back to android", c: full, f: "other", want: `{"label":0,"id":"0","candidate":"` + hostCand + `"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Encode(tc.f); got != tc.want {
				t.Fatalf("Encode(%s) = %s\nwant %s", tc.f, got, tc.want)
			}
		})
	}
}

// Both wire formats decode to one Candidate, and that Candidate encodes to either format.
func TestCandidateFormatsConvert(t *testing.T) {
	t.Parallel()
	android := `{"label":0,"id":"0","candidate":"` + hostCand + `"}`
	web := `{"candidate":"` + hostCand + `","sdpMid":"0","sdpMLineIndex":0}`
	a, err := signal.DecodeCandidate(android)
	if err != nil {
		t.Fatal(err)
	}
	w, err := signal.DecodeCandidate(web)
	if err != nil {
		t.Fatal(err)
	}
	a.Format, w.Format = "", ""
	if !sameCandidate(a, w) {
		t.Fatalf("android %+v and web %+v decode differently", a, w)
	}
	for _, c := range []signal.Candidate{a, w} {
		if got := c.Encode(signal.FormatAndroid); got != android {
			t.Errorf("Encode(android) = %s, want %s", got, android)
		}
		if got := c.Encode(signal.FormatWeb); got != web {
			t.Errorf("Encode(web) = %s, want %s", got, web)
		}
	}
}

func TestParseCandidateFormat(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]signal.CandidateFormat{"android": signal.FormatAndroid, "Android": signal.FormatAndroid, "web": signal.FormatWeb, "WEB": signal.FormatWeb} {
		if got, err := signal.ParseCandidateFormat(in); err != nil || got != want {
			t.Errorf("ParseCandidateFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "browser", "json"} {
		if _, err := signal.ParseCandidateFormat(in); !errors.Is(err, signal.ErrBadField) {
			t.Errorf("ParseCandidateFormat(%q) = %v, want ErrBadField", in, err)
		}
	}
}
