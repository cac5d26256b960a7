package signal_test

import (
	"errors"
	"testing"

	"github.com/rtcctl/rtcctl/internal/signal"
)

func num(n int64) signal.ID  { return signal.NumberID(n) }
func str(s string) signal.ID { return signal.StringID(s) }

func TestDecodeAndEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		frame   string
		want    signal.Message
		encoded string // exact Encode output of the decoded message
	}{
		{
			name:    "join with string room and uid",
			frame:   `{"cmd":"join","roomId":"100","uid":"42"}`,
			want:    signal.Message{Cmd: "join", RoomID: str("100"), UID: str("42")},
			encoded: `{"cmd":"join","roomId":"100","uid":"42"}`,
		},
		{
			name:    "join with number room and uid stays numbers",
			frame:   `{"cmd":"join","roomId":100,"uid":42}`,
			want:    signal.Message{Cmd: "join", RoomID: num(100), UID: num(42)},
			encoded: `{"cmd":"join","roomId":100,"uid":42}`,
		},
		{
			name:    "1.0e2 canonicalises to 100",
			frame:   `{"cmd":"leave","roomId":1.0e2,"uid":"a"}`,
			want:    signal.Message{Cmd: "leave", RoomID: num(100), UID: str("a")},
			encoded: `{"cmd":"leave","roomId":100,"uid":"a"}`,
		},
		{
			name:    "whitespace, key order and escapes",
			frame:   " {\n \"uid\" : \"\\u0061\", \"roomId\":\"r\", \"cmd\" : \"join\" }\n",
			want:    signal.Message{Cmd: "join", RoomID: str("r"), UID: str("a")},
			encoded: `{"cmd":"join","roomId":"r","uid":"a"}`,
		},
		{
			name:    "server resp-join",
			frame:   `{"cmd":"resp-join","remoteUid":"7"}`,
			want:    signal.Message{Cmd: "resp-join", RemoteUID: str("7")},
			encoded: `{"cmd":"resp-join","remoteUid":"7"}`,
		},
		{
			name:    "offer relay",
			frame:   `{"cmd":"offer","roomId":"1","uid":"a","remoteUid":"b","msg":"{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}"}`,
			want:    signal.Message{Cmd: "offer", RoomID: str("1"), UID: str("a"), RemoteUID: str("b"), Msg: "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}"},
			encoded: `{"cmd":"offer","roomId":"1","uid":"a","remoteUid":"b","msg":"{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}"}`,
		},
		{
			name:    "null fields are absent",
			frame:   `{"cmd":"join","roomId":null,"uid":null,"msg":null}`,
			want:    signal.Message{Cmd: "join"},
			encoded: `{"cmd":"join"}`,
		},
		{
			name:    "unknown fields ignored",
			frame:   `{"cmd":"join","roomId":"1","uid":"2","extra":{"x":[1,2]}}`,
			want:    signal.Message{Cmd: "join", RoomID: str("1"), UID: str("2")},
			encoded: `{"cmd":"join","roomId":"1","uid":"2"}`,
		},
		{
			name:    "hardened full",
			frame:   `{"cmd":"full","roomId":"1","uid":"c"}`,
			want:    signal.Message{Cmd: "full", RoomID: str("1"), UID: str("c")},
			encoded: `{"cmd":"full","roomId":"1","uid":"c"}`,
		},
		{
			name:    "hardened error with code and reason",
			frame:   `{"cmd":"error","code":400,"reason":"bad json"}`,
			want:    signal.Message{Cmd: "error", Code: 400, Reason: "bad json"},
			encoded: `{"cmd":"error","code":400,"reason":"bad json"}`,
		},
		{
			name:    "error with a wrong-typed code keeps going",
			frame:   `{"cmd":"error","code":"x","reason":5}`,
			want:    signal.Message{Cmd: "error"},
			encoded: `{"cmd":"error"}`,
		},
		{
			name:    "duplicate key: last wins as in JSON.parse",
			frame:   `{"cmd":"join","cmd":"leave","roomId":"1","uid":"2"}`,
			want:    signal.Message{Cmd: "leave", RoomID: str("1"), UID: str("2")},
			encoded: `{"cmd":"leave","roomId":"1","uid":"2"}`,
		},
		{
			name:    "keepalive ping",
			frame:   `{"cmd":"ping"}`,
			want:    signal.Message{Cmd: "ping"},
			encoded: `{"cmd":"ping"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := signal.Decode([]byte(tc.frame))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got != tc.want {
				t.Fatalf("Decode = %+v\nwant     %+v", got, tc.want)
			}
			b, err := got.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.encoded {
				t.Fatalf("Encode = %s\nwant     %s", b, tc.encoded)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		want  error
	}{
		{name: "not JSON", frame: `hello`, want: signal.ErrMalformed},
		{name: "empty", frame: ``, want: signal.ErrMalformed},
		{name: "spaces only", frame: "  \n", want: signal.ErrMalformed},
		{name: "null", frame: `null`, want: signal.ErrMalformed},
		{name: "array", frame: `[{"cmd":"join"}]`, want: signal.ErrMalformed},
		{name: "number", frame: `5`, want: signal.ErrMalformed},
		{name: "string", frame: `"join"`, want: signal.ErrMalformed},
		{name: "true", frame: `true`, want: signal.ErrMalformed},
		{name: "truncated object", frame: `{"cmd":"join"`, want: signal.ErrMalformed},
		{name: "trailing garbage", frame: `{"cmd":"join"} x`, want: signal.ErrMalformed},
		{name: "two objects", frame: `{"cmd":"join"}{"cmd":"join"}`, want: signal.ErrMalformed},
		{name: "missing cmd", frame: `{"roomId":"1","uid":"2"}`, want: signal.ErrNoCmd},
		{name: "empty object", frame: `{}`, want: signal.ErrNoCmd},
		{name: "null cmd", frame: `{"cmd":null}`, want: signal.ErrNoCmd},
		{name: "number cmd", frame: `{"cmd":1}`, want: signal.ErrNoCmd},
		{name: "array cmd", frame: `{"cmd":["join"]}`, want: signal.ErrNoCmd},
		{name: "object cmd", frame: `{"cmd":{"join":1}}`, want: signal.ErrNoCmd},
		{name: "unknown cmd", frame: `{"cmd":"dance"}`, want: signal.ErrUnknownCmd},
		{name: "cmd is case sensitive", frame: `{"cmd":"JOIN","roomId":"1","uid":"2"}`, want: signal.ErrUnknownCmd},
		{name: "empty cmd", frame: `{"cmd":""}`, want: signal.ErrUnknownCmd},
		{name: "roomId object", frame: `{"cmd":"join","roomId":{},"uid":"1"}`, want: signal.ErrBadField},
		{name: "roomId array", frame: `{"cmd":"join","roomId":[100],"uid":"1"}`, want: signal.ErrBadField},
		{name: "uid bool", frame: `{"cmd":"join","roomId":"1","uid":true}`, want: signal.ErrBadField},
		{name: "remoteUid object", frame: `{"cmd":"offer","roomId":"1","uid":"a","remoteUid":{},"msg":"x"}`, want: signal.ErrBadField},
		{name: "msg number", frame: `{"cmd":"offer","roomId":"1","uid":"a","remoteUid":"b","msg":5}`, want: signal.ErrBadField},
		{name: "msg object (not stringified)", frame: `{"cmd":"candidate","roomId":"1","uid":"a","remoteUid":"b","msg":{"candidate":"c"}}`, want: signal.ErrBadField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := signal.Decode([]byte(tc.frame))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode(%s) = %+v, %v; want %v", tc.frame, m, err, tc.want)
			}
			for _, other := range []error{signal.ErrMalformed, signal.ErrNoCmd, signal.ErrUnknownCmd, signal.ErrBadField} {
				if other != tc.want && errors.Is(err, other) {
					t.Fatalf("Decode(%s) error %v also matches %v", tc.frame, err, other)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    signal.Message
		ok   bool
	}{
		{name: "join ok", m: signal.Message{Cmd: "join", RoomID: str("1"), UID: str("a")}, ok: true},
		{name: "join with number ids ok", m: signal.Message{Cmd: "join", RoomID: num(1), UID: num(2)}, ok: true},
		{name: "join without uid", m: signal.Message{Cmd: "join", RoomID: str("1")}},
		{name: "join without room", m: signal.Message{Cmd: "join", UID: str("a")}},
		{name: "leave ok", m: signal.Message{Cmd: "leave", RoomID: str("1"), UID: str("a")}, ok: true},
		{name: "leave without room", m: signal.Message{Cmd: "leave", UID: str("a")}},
		{name: "offer ok", m: signal.Message{Cmd: "offer", RoomID: str("1"), UID: str("a"), RemoteUID: str("b"), Msg: "{}"}, ok: true},
		{name: "offer without remoteUid", m: signal.Message{Cmd: "offer", RoomID: str("1"), UID: str("a"), Msg: "{}"}},
		{name: "answer without msg", m: signal.Message{Cmd: "answer", RoomID: str("1"), UID: str("a"), RemoteUID: str("b")}},
		{name: "candidate without uid", m: signal.Message{Cmd: "candidate", RoomID: str("1"), RemoteUID: str("b"), Msg: "{}"}},
		{name: "empty string ids are present", m: signal.Message{Cmd: "join", RoomID: str(""), UID: str("")}, ok: true},
		{name: "server messages need nothing", m: signal.Message{Cmd: "new-peer"}, ok: true},
		{name: "ping needs nothing", m: signal.Message{Cmd: "ping"}, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, signal.ErrBadField) {
				t.Fatalf("Validate = %v, want ErrBadField", err)
			}
		})
	}
}

func TestSDP(t *testing.T) {
	t.Parallel()
	want := signal.SessionDescription{Type: "offer", SDP: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
	tests := []struct {
		name string
		msg  string
	}{
		{name: "browser key order", msg: `{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`},
		{name: "android key order", msg: `{"sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n","type":"offer"}`},
		{name: "extra fields and spaces", msg: ` { "sdp" : "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n" , "type":"offer", "x": 1 } `},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := signal.DecodeSDP(tc.msg)
			if err != nil || got != want {
				t.Fatalf("DecodeSDP = %+v, %v; want %+v", got, err, want)
			}
		})
	}
	if got, w := signal.EncodeSDP(want), `{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`; got != w {
		t.Fatalf("EncodeSDP = %s, want %s", got, w)
	}
	for _, bad := range []string{``, `null`, `{}`, `{"type":"offer"}`, `{"sdp":"v=0"}`, `{"type":5,"sdp":"v=0"}`, `[1]`, `offer`} {
		if _, err := signal.DecodeSDP(bad); !errors.Is(err, signal.ErrBadField) {
			t.Errorf("DecodeSDP(%q) = %v, want ErrBadField", bad, err)
		}
	}
}

func TestIsRelay(t *testing.T) {
	t.Parallel()
	for cmd, want := range map[string]bool{"offer": true, "answer": true, "candidate": true, "join": false, "leave": false, "new-peer": false, "ping": false} {
		if got := signal.IsRelay(cmd); got != want {
			t.Errorf("IsRelay(%q) = %v, want %v", cmd, got, want)
		}
	}
}
