package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// ICEConfig is an ICE configuration in the browser's RTCConfiguration format, as the
// course's pages and `rtcctl serve`'s GET /config hand it out.
type ICEConfig struct {
	Servers []webrtc.ICEServer
	// RelayOnly is iceTransportPolicy "relay".
	RelayOnly bool
}

type iceServerJSON struct {
	URLs       json.RawMessage `json:"urls"`
	URL        string          `json:"url"` // legacy single-URL form
	Username   string          `json:"username"`
	Credential string          `json:"credential"`
}

// ErrICEConfig means an ICE configuration document could not be parsed or fetched.
var ErrICEConfig = errors.New("peer: bad ICE configuration")

// ParseICEConfig accepts {"iceServers":[...], "iceTransportPolicy":"relay"|"all"} or a
// bare array of servers; "urls" may be a string or an array of strings.
func ParseICEConfig(b []byte) (ICEConfig, error) {
	var cfg ICEConfig
	var doc struct {
		ICEServers         []iceServerJSON `json:"iceServers"`
		ICETransportPolicy string          `json:"iceTransportPolicy"`
	}
	trimmed := strings.TrimSpace(string(b))
	if strings.HasPrefix(trimmed, "[") {
		if err := json.Unmarshal(b, &doc.ICEServers); err != nil {
			return cfg, fmt.Errorf("%w: %v", ErrICEConfig, err)
		}
	} else if err := json.Unmarshal(b, &doc); err != nil {
		return cfg, fmt.Errorf("%w: %v", ErrICEConfig, err)
	}
	for i, s := range doc.ICEServers {
		var urls []string
		if len(s.URLs) > 0 {
			var one string
			if err := json.Unmarshal(s.URLs, &one); err == nil {
				urls = []string{one}
			} else if err := json.Unmarshal(s.URLs, &urls); err != nil {
				return cfg, fmt.Errorf("%w: iceServers[%d].urls must be a string or an array of strings", ErrICEConfig, i)
			}
		} else if s.URL != "" {
			urls = []string{s.URL}
		}
		if len(urls) == 0 {
			return cfg, fmt.Errorf("%w: iceServers[%d] has no urls", ErrICEConfig, i)
		}
		for _, u := range urls {
			if err := CheckICEURL(u); err != nil {
				return cfg, fmt.Errorf("%w: iceServers[%d]: %v", ErrICEConfig, i, err)
			}
		}
		srv := webrtc.ICEServer{URLs: urls, Username: s.Username}
		if s.Credential != "" {
			srv.Credential = s.Credential
			srv.CredentialType = webrtc.ICECredentialTypePassword
		}
		cfg.Servers = append(cfg.Servers, srv)
	}
	cfg.RelayOnly = doc.ICETransportPolicy == "relay"
	return cfg, nil
}

// CheckICEURL checks that u is a stun:, stuns:, turn: or turns: URL with a host that pion
// can parse (RFC 7064/7065, ?transport=udp or tcp on turn URLs).
func CheckICEURL(u string) error {
	i := strings.IndexByte(u, ':')
	if i < 0 {
		return fmt.Errorf("%q is not a stun:/turn: URL", u)
	}
	switch u[:i] {
	case "stun", "stuns", "turn", "turns":
	default:
		return fmt.Errorf("%q: scheme must be stun, stuns, turn or turns", u)
	}
	if iceURLHost(u) == "" {
		return fmt.Errorf("%q has no host", u)
	}
	// What pion will parse when the PeerConnection is made: an unknown ?transport= or a
	// bad port fails here with the reason instead of as a failed call later.
	if _, err := stun.ParseURI(u); err != nil {
		return fmt.Errorf("%q: %w (want e.g. turn:HOST:3478?transport=udp or tcp)", u, err)
	}
	return nil
}

// ConfigURL turns a signaling URL (ws://host:port/ws) into the server's ICE config URL
// (http://host:port/config), as `rtcctl serve` serves it.
func ConfigURL(signalURL string) (string, error) {
	u, err := url.Parse(signalURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: server URL %q", ErrConfig, signalURL)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	case "http", "https":
	default:
		return "", fmt.Errorf("%w: server URL %q: want ws:// or wss://", ErrConfig, signalURL)
	}
	u.Path, u.RawQuery, u.Fragment = "/config", "", ""
	return u.String(), nil
}

// FetchICEConfig GETs the ICE configuration from a signaling server's /config.
func FetchICEConfig(ctx context.Context, signalURL, caFile string, insecure bool) (ICEConfig, error) {
	cu, err := ConfigURL(signalURL)
	if err != nil {
		return ICEConfig{}, err
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: insecure} //nolint:gosec // user asked for --insecure
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return ICEConfig{}, fmt.Errorf("%w: %w", ErrICEConfig, err)
		}
		pool, _ := x509.SystemCertPool()
		if pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return ICEConfig{}, fmt.Errorf("%w: %s holds no PEM certificate", ErrICEConfig, caFile)
		}
		tlsCfg.RootCAs = pool
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cu, nil)
	if err != nil {
		return ICEConfig{}, fmt.Errorf("%w: %w", ErrICEConfig, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return ICEConfig{}, fmt.Errorf("%w: GET %s: %w", ErrICEConfig, cu, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ICEConfig{}, fmt.Errorf("%w: GET %s: HTTP %d (the server may not be rtcctl serve)", ErrICEConfig, cu, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ICEConfig{}, fmt.Errorf("%w: GET %s: %w", ErrICEConfig, cu, err)
	}
	return ParseICEConfig(b)
}
