package probe

import "fmt"

// STUNError is an error response from a STUN/TURN server.
type STUNError struct {
	// Method is the request that failed ("Allocate", "CreatePermission").
	Method string `json:"method"`
	// Code is the STUN error code (401, 403, ...).
	Code int `json:"code"`
	// Reason is the server's reason phrase.
	Reason string `json:"reason,omitempty"`
}

// Error says which request failed with which code and reason.
func (e *STUNError) Error() string {
	return fmt.Sprintf("%s: error %d %s", e.Method, e.Code, e.Reason)
}

// codeMeaning explains a STUN error code for the method that got it, and what to do.
func codeMeaning(method string, code int, rest bool) (meaning, fix string) {
	switch code {
	case 400:
		return "Bad Request: the server found the request malformed; pion-based servers also answer 400 to a wrong password (MESSAGE-INTEGRITY check failed)",
			"check the username and password (pion TURN reports a bad password as 400); if they are right, the server or a middlebox mangles STUN messages"
	case 401:
		if rest {
			return "Unauthorized: the REST credential was rejected",
				"the secret differs from the server's static-auth-secret, the credential has expired, or the clocks differ by more than its TTL: compare `date -u` here and on the server and check static-auth-secret in turnserver.conf"
		}
		return "Unauthorized: wrong username or password (or a realm mismatch)",
			"check the user and password against the server (coturn: `turnadmin -l` or the user= lines in turnserver.conf, with -a/lt-cred-mech on)"
	case 403:
		if method == "CreatePermission" {
			return "Forbidden: the server refuses to relay to this peer address",
				"coturn refuses loopback and denied-peer-ip ranges: on a test box add --allow-loopback-peers; in production check denied-peer-ip/allowed-peer-ip and that peers are not in private ranges you deny"
		}
		return "Forbidden: the credentials are valid but this user may not allocate",
			"check the user's permissions and the server's allowed/denied rules (coturn: user quotas, --no-auth-pings, denied-peer-ip)"
	case 420:
		return "Unknown Attribute: the server does not understand a required attribute",
			"the server is not a TURN server (or a very old one): point the URL at a TURN server"
	case 437:
		return "Allocation Mismatch: an allocation already exists for this client address and port (or none exists for a refresh)",
			"wait for the old allocation to expire (its lifetime, usually 10 min) or connect from a new source port"
	case 438:
		return "Stale Nonce: the server's nonce expired",
			"retry with the new nonce (clients do this automatically; repeated 438 means the server's clock or nonce lifetime is broken)"
	case 441:
		return "Wrong Credentials: the request used different credentials than the allocation was created with",
			"use the same username for the whole allocation"
	case 442:
		return "Unsupported Transport Protocol: the server does not relay this transport",
			"the server disables UDP relaying (coturn no-udp-relay): remove that option"
	case 486:
		return "Allocation Quota Reached: this user has too many allocations",
			"raise user-quota/total-quota (coturn) or close stale sessions; each call holds allocations for their lifetime"
	case 508:
		return "Insufficient Capacity: the server has no free relay ports",
			"widen min-port/max-port (coturn) and open that UDP range in the firewall, or add servers"
	case 500:
		return "Server Error", "look at the server's log"
	}
	return fmt.Sprintf("error %d", code), "look at the server's log"
}
