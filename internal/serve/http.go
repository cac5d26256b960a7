package serve

import (
	"bytes"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

//go:embed web
var webFS embed.FS

// webRoot is the embedded call page (index.html, app.js).
var webRoot, _ = fs.Sub(webFS, "web")

// pagePolicy keeps the page to its own scripts; connect-src allows other signaling servers
// because the page can be pointed at one with ?ws=.
const pagePolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"connect-src 'self' ws: wss: http: https:; media-src 'self' blob: mediastream:; img-src 'self' data:; " +
	"frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP routes one request: WebSocket upgrades (on /ws or any other path carrying an
// Upgrade header, like the original server) go to the signaling server; GET / serves the
// call page, /config the ICE configuration, /healthz the stats.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ws" || websocket.IsWebSocketUpgrade(r) {
		if len(s.cfg.Signal.AllowedOrigins) > 0 && s.sameOrigin(r) {
			// Our own call page: the Origin allowlist is for other sites' pages, and the
			// page this server hands out must always reach it. The signaling server
			// accepts a request without Origin (as from a non-browser client).
			r = r.Clone(r.Context())
			r.Header.Del("Origin")
		}
		s.sig.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/config":
		s.serveConfig(w, r)
	case "/healthz":
		writeJSON(w, http.StatusOK, s.Stats())
	case "/", "/index.html", "/app.js":
		s.servePage(w, r)
	default:
		http.NotFound(w, r)
	}
}

// sameOrigin tells whether r comes from a page of this server: its Origin names the
// scheme this server speaks and the host:port the request was sent to.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return strings.EqualFold(u.Scheme, scheme) && strings.EqualFold(u.Host, r.Host)
}

// rtcConfiguration is the browser's RTCConfiguration, as /config returns it.
type rtcConfiguration struct {
	ICEServers         []iceServerJSON `json:"iceServers"`
	ICETransportPolicy string          `json:"iceTransportPolicy"`
	BundlePolicy       string          `json:"bundlePolicy"`
	RTCPMuxPolicy      string          `json:"rtcpMuxPolicy"`
}

type iceServerJSON struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// serveConfig answers GET /config with fresh credentials; ?relay=1 asks for relay-only.
func (s *Server) serveConfig(w http.ResponseWriter, r *http.Request) {
	out := rtcConfiguration{
		ICEServers:         []iceServerJSON{},
		ICETransportPolicy: "all",
		BundlePolicy:       "max-bundle",
		RTCPMuxPolicy:      "require",
	}
	if v := r.URL.Query().Get("relay"); v == "1" || v == "true" {
		out.ICETransportPolicy = "relay"
	}
	for _, is := range s.ICEServers() {
		cred, _ := is.Credential.(string)
		out.ICEServers = append(out.ICEServers, iceServerJSON{URLs: is.URLs, Username: is.Username, Credential: cred})
	}
	s.cfg.Logf("http: %s /config from %s (%d ice servers, policy %s)", r.Method, r.RemoteAddr, len(out.ICEServers), out.ICETransportPolicy)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Path[1:]
	ctype := "application/javascript; charset=utf-8"
	if name == "" || name == "index.html" {
		name, ctype = "index.html", "text/html; charset=utf-8"
		s.cfg.Logf("http: %s / from %s", r.Method, r.RemoteAddr)
	}
	body, err := fs.ReadFile(webRoot, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", pagePolicy)
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, name, time.Time{}, bytesReader(body))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
