// Package turncred makes and checks TURN REST API credentials (the time-limited
// username/password scheme coturn calls use-auth-secret, from
// draft-uberti-behave-turn-rest): the username is "<expiry unix seconds>:<user>" and the
// password is base64(HMAC-SHA1(secret, username)). A server holding the same shared secret
// can check a credential without any per-user state.
//
// The package is a leaf: it imports nothing from rtcctl, so TURN servers, probes and the
// HTTP /config endpoint can all share it.
package turncred

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST scheme specifies.
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors of the turncred package.
var (
	// ErrMalformed means a username is not "<expiry unix seconds>[:<user>]".
	ErrMalformed = errors.New("turncred: malformed REST username")
	// ErrExpired means the username's expiry time has passed.
	ErrExpired = errors.New("turncred: credential expired")
	// ErrBadPassword means the password does not match the username under the secret.
	ErrBadPassword = errors.New("turncred: password does not match")
)

// Generate returns a credential for user valid until now+ttl. An empty user gives the bare
// "<expiry>" form, which coturn also accepts.
func Generate(secret, user string, ttl time.Duration, now time.Time) (username, password string) {
	expiry := strconv.FormatInt(now.Add(ttl).Unix(), 10)
	username = expiry
	if user != "" {
		username = expiry + ":" + user
	}
	return username, Password(secret, username)
}

// Password returns the password that belongs to username under secret.
func Password(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username)) // hash.Hash writes never fail
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Parse splits a REST username into its expiry time and user part. The user part may itself
// contain colons; only the first one separates the expiry.
func Parse(username string) (expiry time.Time, user string, err error) {
	ts, user, _ := strings.Cut(username, ":")
	if ts == "" || len(ts) > 19 {
		return time.Time{}, "", fmt.Errorf("%w: %.40q", ErrMalformed, username)
	}
	for _, c := range ts {
		if c < '0' || c > '9' {
			return time.Time{}, "", fmt.Errorf("%w: %.40q", ErrMalformed, username)
		}
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w: %.40q", ErrMalformed, username)
	}
	return time.Unix(n, 0), user, nil
}

// IsRESTUsername reports whether username has the REST shape (a decimal expiry first).
func IsRESTUsername(username string) bool {
	_, _, err := Parse(username)
	return err == nil
}

// Valid checks that username is well formed and not expired at now. It does not look at a
// password: TURN servers check the message integrity themselves from Password's output.
func Valid(username string, now time.Time) error {
	expiry, _, err := Parse(username)
	if err != nil {
		return err
	}
	if !now.Before(expiry) {
		return fmt.Errorf("%w: expired %s ago", ErrExpired, now.Sub(expiry).Round(time.Second))
	}
	return nil
}

// Check verifies a username/password pair under secret at now.
func Check(secret, username, password string, now time.Time) error {
	if err := Valid(username, now); err != nil {
		return err
	}
	want := Password(secret, username)
	if subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return ErrBadPassword
	}
	return nil
}
