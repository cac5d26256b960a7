package turncred

import (
	"errors"
	"testing"
	"time"
)

func TestGenerateKnownVector(t *testing.T) {
	t.Parallel()
	// Computed independently: printf '%s' '1700000600:alice' | openssl dgst -sha1 -hmac s3cret -binary | base64
	now := time.Unix(1700000000, 0)
	user, pass := Generate("s3cret", "alice", 10*time.Minute, now)
	if user != "1700000600:alice" {
		t.Fatalf("username = %q, want 1700000600:alice", user)
	}
	if want := "bUIJIVaC05oyFgKsQvKAparqg1Q="; pass != want {
		t.Fatalf("password = %q, want %q", pass, want)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	user, pass := Generate("secret", "bob", time.Hour, now)
	cases := []struct {
		name         string
		secret, u, p string
		at           time.Time
		want         error
	}{
		{"valid", "secret", user, pass, now, nil},
		{"valid just before expiry", "secret", user, pass, now.Add(time.Hour - time.Second), nil},
		{"expired at expiry", "secret", user, pass, now.Add(time.Hour), ErrExpired},
		{"wrong secret", "other", user, pass, now, ErrBadPassword},
		{"wrong password", "secret", user, pass + "x", now, ErrBadPassword},
		{"static-looking name", "secret", "alice", pass, now, ErrMalformed},
		{"empty", "secret", "", pass, now, ErrMalformed},
		{"signed expiry", "secret", "-5:bob", pass, now, ErrMalformed},
		{"huge expiry", "secret", "99999999999999999999:bob", pass, now, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.secret, tc.u, tc.p, tc.at)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	exp, user, err := Parse("1700000600:room:100")
	if err != nil || exp.Unix() != 1700000600 || user != "room:100" {
		t.Fatalf("Parse = %v %q %v", exp, user, err)
	}
	exp, user, err = Parse("1700000600")
	if err != nil || exp.Unix() != 1700000600 || user != "" {
		t.Fatalf("Parse bare = %v %q %v", exp, user, err)
	}
	if IsRESTUsername("demo") || !IsRESTUsername("1:x") {
		t.Fatal("IsRESTUsername wrong")
	}
}

func TestGenerateBareUser(t *testing.T) {
	t.Parallel()
	u, p := Generate("k", "", time.Minute, time.Unix(100, 0))
	if u != "160" || p != Password("k", "160") {
		t.Fatalf("got %q %q", u, p)
	}
}
