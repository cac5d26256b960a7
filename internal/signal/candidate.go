package signal

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// CandidateFormat names one of the two candidate JSON formats in the wild.
type CandidateFormat string

const (
	// FormatAndroid is {"label": sdpMLineIndex, "id": sdpMid, "candidate": "..."}; the safe
	// default, parsed by every client of the Android lineage.
	FormatAndroid CandidateFormat = "android"
	// FormatWeb is JSON.stringify(RTCIceCandidate):
	// {"candidate","sdpMid","sdpMLineIndex","usernameFragment"}.
	FormatWeb CandidateFormat = "web"
)

// ParseCandidateFormat accepts "android" or "web" (case-insensitive).
func ParseCandidateFormat(s string) (CandidateFormat, error) {
	switch CandidateFormat(strings.ToLower(s)) {
	case FormatAndroid:
		return FormatAndroid, nil
	case FormatWeb:
		return FormatWeb, nil
	}
	return "", fmt.Errorf("%w: candidate format %q (want android or web)", ErrBadField, s)
}

// Candidate is an ICE candidate in either wire format. An empty Candidate string is the
// end-of-candidates marker some browsers send.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
	// Format is the format it arrived in (set by DecodeCandidate).
	Format CandidateFormat `json:"-"`
}

type candidateWire struct {
	Candidate        *string          `json:"candidate"`
	SDPMid           *string          `json:"sdpMid"`
	SDPMLineIndex    *json.RawMessage `json:"sdpMLineIndex"`
	UsernameFragment *string          `json:"usernameFragment"`
	Label            *json.RawMessage `json:"label"`
	ID               *json.RawMessage `json:"id"`
}

// DecodeCandidate parses a candidate msg in either format. Android's label may arrive as a
// number or a numeric string, its id as a string or a number.
func DecodeCandidate(msg string) (Candidate, error) {
	var w candidateWire
	if err := json.Unmarshal([]byte(msg), &w); err != nil {
		return Candidate{}, fmt.Errorf("%w: %v", ErrBadCandidate, err)
	}
	if w.Candidate == nil {
		return Candidate{}, fmt.Errorf("%w: no candidate field", ErrBadCandidate)
	}
	c := Candidate{Candidate: *w.Candidate, Format: FormatWeb}
	if w.Label != nil || w.ID != nil {
		c.Format = FormatAndroid
		if w.Label != nil {
			idx, err := parseIndex(*w.Label)
			if err != nil {
				return Candidate{}, fmt.Errorf("%w: label: %v", ErrBadCandidate, err)
			}
			c.SDPMLineIndex = idx
		}
		if w.ID != nil {
			mid, err := parseMid(*w.ID)
			if err != nil {
				return Candidate{}, fmt.Errorf("%w: id: %v", ErrBadCandidate, err)
			}
			c.SDPMid = mid
		}
	}
	if w.SDPMid != nil {
		c.SDPMid = w.SDPMid
	}
	if w.SDPMLineIndex != nil {
		idx, err := parseIndex(*w.SDPMLineIndex)
		if err != nil {
			return Candidate{}, fmt.Errorf("%w: sdpMLineIndex: %v", ErrBadCandidate, err)
		}
		if idx != nil {
			c.SDPMLineIndex = idx
		}
	}
	c.UsernameFragment = w.UsernameFragment
	if c.Candidate != "" && c.SDPMid == nil && c.SDPMLineIndex == nil {
		return Candidate{}, fmt.Errorf("%w: needs sdpMid or sdpMLineIndex (label/id)", ErrBadCandidate)
	}
	return c, nil
}

// parseIndex reads an m-line index: a JSON number, or a string holding a decimal integer
// (some Android builds send label as "0"). Integral floats (1.0) are accepted; negative,
// fractional and out-of-range values are not.
func parseIndex(raw json.RawMessage) (*uint16, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	text := string(raw)
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		text = strings.TrimSpace(s)
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) || f < 0 || f > math.MaxUint16 || strings.ContainsAny(text, "xXnN_") {
		return nil, fmt.Errorf("want an integer 0..65535, got %.20s", raw)
	}
	n := uint16(f)
	return &n, nil
}

func parseMid(raw json.RawMessage) (*string, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return &s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("want a string, got %.20s", raw)
	}
	s = n.String()
	return &s, nil
}

// Encode serialises the candidate in the given format. Android's form needs both label and
// id, so a missing one is filled with 0 / "0" (max-bundle: one transport, first m-line).
func (c Candidate) Encode(f CandidateFormat) string {
	var b []byte
	switch f {
	case FormatWeb:
		b, _ = json.Marshal(c)
	default:
		label, id := uint16(0), "0"
		if c.SDPMLineIndex != nil {
			label = *c.SDPMLineIndex
		}
		if c.SDPMid != nil {
			id = *c.SDPMid
		}
		b, _ = json.Marshal(struct {
			Label     uint16 `json:"label"`
			ID        string `json:"id"`
			Candidate string `json:"candidate"`
		}{label, id, c.Candidate})
	}
	return string(b)
}
