package peer

import (
	"strings"
	"testing"
)

func TestParseICEConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		doc     string
		servers int
		relay   bool
		err     string
	}{
		{"browser document", `{"iceServers":[{"urls":["stun:h:3478"]},{"urls":["turn:h:3478?transport=udp","turn:h:3478?transport=tcp"],"username":"u","credential":"p"}],"iceTransportPolicy":"relay"}`, 2, true, ""},
		{"urls as a string", `{"iceServers":[{"urls":"turn:h:3478","username":"u","credential":"p"}]}`, 1, false, ""},
		{"legacy url field", `{"iceServers":[{"url":"stun:h:3478"}]}`, 1, false, ""},
		{"bare array", `[{"urls":"stun:h:19302"}]`, 1, false, ""},
		{"not JSON", `iceServers`, 0, false, "bad ICE configuration"},
		{"no urls", `{"iceServers":[{"username":"u"}]}`, 0, false, "no urls"},
		{"wrong scheme", `{"iceServers":[{"urls":"http://h"}]}`, 0, false, "scheme"},
		{"urls a number", `{"iceServers":[{"urls":5}]}`, 0, false, "string or an array"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseICEConfig([]byte(tc.doc))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(cfg.Servers) != tc.servers || cfg.RelayOnly != tc.relay {
				t.Fatalf("cfg %+v err %v", cfg, err)
			}
		})
	}
}

func TestConfigURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ws://127.0.0.1:8099/ws":   "http://127.0.0.1:8099/config",
		"wss://host:8098/ws?x=1":   "https://host:8098/config",
		"ws://[::1]:8099/anything": "http://[::1]:8099/config",
	} {
		got, err := ConfigURL(in)
		if err != nil || got != want {
			t.Errorf("ConfigURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ConfigURL("ftp://x"); err == nil {
		t.Error("ftp:// accepted")
	}
}

// TestCheckICEURL: the URLs a user types are checked as pion will parse them, so a bad
// transport or port is a usage error, not a failed call.
func TestCheckICEURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"stun:127.0.0.1:3478":                   true,
		"turn:127.0.0.1:3478?transport=udp":     true,
		"turn:127.0.0.1:3478?transport=tcp":     true,
		"turns:example.test:5349?transport=tcp": true,
		"turn:127.0.0.1:3478?transport=sctp":    false,
		"stun:127.0.0.1:3478?transport=udp":     false,
		"http://127.0.0.1:3478":                 false,
		"turn:":                                 false,
	} {
		if err := CheckICEURL(u); (err == nil) != ok {
			t.Errorf("CheckICEURL(%q) = %v, want ok %v", u, err, ok)
		}
	}
}
