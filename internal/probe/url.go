package probe

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ServerURL is a parsed stun:, stuns:, turn: or turns: URI (RFC 7064, RFC 7065).
type ServerURL struct {
	// Scheme is "stun", "stuns", "turn" or "turns".
	Scheme string `json:"scheme"`
	// Host is a DNS name or an IP literal (without brackets).
	Host string `json:"host"`
	// Port is the explicit port or the scheme's default (3478, or 5349 for the secure ones).
	Port int `json:"port"`
	// Transport is "udp" or "tcp" (for turns: and stuns: the TCP carries TLS).
	Transport string `json:"transport"`
}

// Secure reports whether the URL uses TLS.
func (u ServerURL) Secure() bool { return u.Scheme == "turns" || u.Scheme == "stuns" }

// Addr is host:port.
func (u ServerURL) Addr() string { return net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) }

// Proto is what goes over the wire: "udp", "tcp" or "tls".
func (u ServerURL) Proto() string {
	if u.Secure() {
		return "tls"
	}
	return u.Transport
}

// String is the canonical URI; the transport parameter is written for TURN URIs only.
func (u ServerURL) String() string {
	s := u.Scheme + ":" + u.Addr()
	if u.Scheme == "turn" || u.Scheme == "turns" {
		s += "?transport=" + u.Transport
	}
	return s
}

// ParseServerURL parses a STUN or TURN URI. Defaults: port 3478 (5349 for turns:/stuns:),
// transport udp for turn: and tcp for turns:. DTLS (turns:...?transport=udp) is refused:
// browsers do not support it.
func ParseServerURL(raw string) (ServerURL, error) {
	var u ServerURL
	scheme, rest, ok := strings.Cut(strings.TrimSpace(raw), ":")
	if !ok {
		return u, fmt.Errorf("%w: %q: want turn:HOST[:PORT][?transport=udp|tcp], turns:... or stun:HOST[:PORT]", ErrBadURL, raw)
	}
	u.Scheme = strings.ToLower(scheme)
	switch u.Scheme {
	case "stun", "turn":
		u.Port = 3478
	case "stuns", "turns":
		u.Port = 5349
	default:
		return u, fmt.Errorf("%w: %q: scheme %q is not stun, stuns, turn or turns", ErrBadURL, raw, scheme)
	}
	if strings.HasPrefix(rest, "//") {
		return u, fmt.Errorf("%w: %q: no \"//\" after the scheme (write %s:HOST:PORT)", ErrBadURL, raw, u.Scheme)
	}
	hostport, query, hasQuery := strings.Cut(rest, "?")
	if strings.Contains(hostport, "@") {
		return u, fmt.Errorf("%w: %q: credentials do not belong in the URL; pass them as options", ErrBadURL, raw)
	}
	switch u.Scheme {
	case "turn", "stun":
		u.Transport = "udp"
	default:
		u.Transport = "tcp"
	}
	if hasQuery {
		if u.Scheme == "stun" || u.Scheme == "stuns" {
			return u, fmt.Errorf("%w: %q: stun: URIs take no query", ErrBadURL, raw)
		}
		key, val, _ := strings.Cut(query, "=")
		if key != "transport" || strings.Contains(val, "&") {
			return u, fmt.Errorf("%w: %q: only ?transport=udp or ?transport=tcp is allowed", ErrBadURL, raw)
		}
		switch strings.ToLower(val) {
		case "udp":
			if u.Scheme == "turns" {
				return u, fmt.Errorf("%w: %q: turns over udp (DTLS) is not supported by browsers; use ?transport=tcp", ErrBadURL, raw)
			}
			u.Transport = "udp"
		case "tcp":
			u.Transport = "tcp"
		default:
			return u, fmt.Errorf("%w: %q: transport %q is not udp or tcp", ErrBadURL, raw, val)
		}
	}
	host, portStr := hostport, ""
	switch {
	case strings.HasPrefix(hostport, "["):
		end := strings.Index(hostport, "]")
		if end < 0 {
			return u, fmt.Errorf("%w: %q: unclosed [ in IPv6 address", ErrBadURL, raw)
		}
		host = hostport[1:end]
		if after := hostport[end+1:]; after != "" {
			if !strings.HasPrefix(after, ":") {
				return u, fmt.Errorf("%w: %q: junk after IPv6 address", ErrBadURL, raw)
			}
			portStr = after[1:]
		}
	case strings.Count(hostport, ":") == 1:
		host, portStr, _ = strings.Cut(hostport, ":")
	case strings.Count(hostport, ":") > 1:
		return u, fmt.Errorf("%w: %q: put IPv6 addresses in brackets", ErrBadURL, raw)
	}
	if host == "" {
		return u, fmt.Errorf("%w: %q: no host", ErrBadURL, raw)
	}
	u.Host = host
	if portStr != "" {
		p, err := strconv.Atoi(portStr)
		if err != nil || p < 1 || p > 65535 {
			return u, fmt.Errorf("%w: %q: port %q is not 1-65535", ErrBadURL, raw, portStr)
		}
		u.Port = p
	}
	return u, nil
}
