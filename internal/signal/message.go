package signal

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Commands of the room protocol. The first group is the original protocol; Full, Error and
// Ping are the hardened server's additions (Full and Ping exist in later ports of the course).
const (
	CmdJoin      = "join"
	CmdRespJoin  = "resp-join"
	CmdNewPeer   = "new-peer"
	CmdPeerLeave = "peer-leave"
	CmdLeave     = "leave"
	CmdOffer     = "offer"
	CmdAnswer    = "answer"
	CmdCandidate = "candidate"
	CmdFull      = "full"
	CmdError     = "error"
	CmdPing      = "ping"
	CmdPong      = "pong"
	// CmdReplaced tells a connection that a newer connection joined with its uid.
	CmdReplaced = "replaced"
)

// Message is one protocol frame: a JSON object with a cmd field. Which fields are set
// depends on Cmd (see shared/protocol.md). Msg is a JSON *string* holding another JSON
// document (an SDP or a candidate), exactly as the course clients send it.
type Message struct {
	Cmd       string `json:"cmd"`
	RoomID    ID     `json:"roomId,omitzero"`
	UID       ID     `json:"uid,omitzero"`
	RemoteUID ID     `json:"remoteUid,omitzero"`
	Msg       string `json:"msg,omitempty"`
	// Code and Reason are set on the hardened server's error messages.
	Code   int    `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// wireMessage is the decoding shape: Msg is kept raw to tell a missing msg from a non-string.
type wireMessage struct {
	Cmd       *json.RawMessage `json:"cmd"`
	RoomID    ID               `json:"roomId"`
	UID       ID               `json:"uid"`
	RemoteUID ID               `json:"remoteUid"`
	Msg       *json.RawMessage `json:"msg"`
	Code      *json.RawMessage `json:"code"`
	Reason    *json.RawMessage `json:"reason"`
}

// knownCmds lists every cmd Decode accepts.
var knownCmds = map[string]bool{
	CmdJoin: true, CmdRespJoin: true, CmdNewPeer: true, CmdPeerLeave: true, CmdLeave: true,
	CmdOffer: true, CmdAnswer: true, CmdCandidate: true, CmdFull: true, CmdError: true,
	CmdPing: true, CmdPong: true, CmdReplaced: true,
}

// IsRelay reports whether cmd is relayed peer to peer (offer, answer, candidate).
func IsRelay(cmd string) bool {
	return cmd == CmdOffer || cmd == CmdAnswer || cmd == CmdCandidate
}

// Decode parses one text frame. It never panics; every failure wraps one of ErrMalformed,
// ErrNoCmd, ErrUnknownCmd or ErrBadField. roomId and uid keep their JSON types.
// Field presence is not checked here; see Validate.
func Decode(frame []byte) (Message, error) {
	var m Message
	trimmed := bytes.TrimSpace(frame)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return m, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var w wireMessage
	if err := json.Unmarshal(trimmed, &w); err != nil {
		if isBadField(err) {
			return m, err
		}
		var ute *json.UnmarshalTypeError
		if asTypeErr(err, &ute) {
			return m, fmt.Errorf("%w: field %q has the wrong type", ErrBadField, ute.Field)
		}
		return m, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.Cmd == nil || string(*w.Cmd) == "null" {
		return m, ErrNoCmd
	}
	if err := json.Unmarshal(*w.Cmd, &m.Cmd); err != nil {
		return m, fmt.Errorf("%w: cmd must be a string", ErrNoCmd)
	}
	if !knownCmds[m.Cmd] {
		return m, fmt.Errorf("%w: %.40q", ErrUnknownCmd, m.Cmd)
	}
	m.RoomID, m.UID, m.RemoteUID = w.RoomID, w.UID, w.RemoteUID
	if w.Msg != nil && string(*w.Msg) != "null" {
		if err := json.Unmarshal(*w.Msg, &m.Msg); err != nil {
			return m, fmt.Errorf("%w: msg must be a JSON string", ErrBadField)
		}
	}
	if w.Code != nil {
		_ = json.Unmarshal(*w.Code, &m.Code) // informational only
	}
	if w.Reason != nil {
		_ = json.Unmarshal(*w.Reason, &m.Reason)
	}
	return m, nil
}

// Validate checks that the fields a client-to-server command needs are present.
func (m Message) Validate() error {
	switch m.Cmd {
	case CmdJoin, CmdLeave:
		if m.RoomID.IsZero() || m.UID.IsZero() {
			return fmt.Errorf("%w: %s needs roomId and uid", ErrBadField, m.Cmd)
		}
	case CmdOffer, CmdAnswer, CmdCandidate:
		if m.RoomID.IsZero() || m.UID.IsZero() || m.RemoteUID.IsZero() {
			return fmt.Errorf("%w: %s needs roomId, uid and remoteUid", ErrBadField, m.Cmd)
		}
		if m.Msg == "" {
			return fmt.Errorf("%w: %s needs msg", ErrBadField, m.Cmd)
		}
	}
	return nil
}

// Encode serialises the message as one compact JSON object.
func (m Message) Encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("signal: encode %s: %w", m.Cmd, err)
	}
	return b, nil
}

// SessionDescription is the JSON carried in the msg of offer and answer. Browsers send
// {"type","sdp"}, Android {"sdp","type"}; both decode here.
type SessionDescription struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

// DecodeSDP parses an offer/answer msg.
func DecodeSDP(msg string) (SessionDescription, error) {
	var d SessionDescription
	if err := json.Unmarshal([]byte(msg), &d); err != nil {
		return d, fmt.Errorf("%w: sdp msg: %v", ErrBadField, err)
	}
	if d.Type == "" || d.SDP == "" {
		return d, fmt.Errorf("%w: sdp msg needs type and sdp", ErrBadField)
	}
	return d, nil
}

// EncodeSDP produces the msg string for an offer/answer, in the browser's key order.
func EncodeSDP(d SessionDescription) string {
	b, _ := json.Marshal(d) // two strings cannot fail
	return string(b)
}
