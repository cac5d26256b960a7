// Package interop holds end-to-end tests that put rtcctl next to the real things it must
// work with: headless Chromium running serve's call page (both candidate formats, relay
// only through Debian coturn, leave and rejoin), an nginx wss deployment with its idle
// timeout, and a network-namespace NAT lab with endpoint-independent and symmetric NATs.
//
// Everything is in the _test.go files; the tests need the Debian packages chromium,
// coturn, nginx, iproute2 and iptables (scripts/deps.sh), and the NAT lab needs root.
package interop
