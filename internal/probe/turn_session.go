package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/stun/v4"
)

// requestedTransportUDP is REQUESTED-TRANSPORT with protocol 17 (UDP), RFC 8656 18.11.
var requestedTransportUDP = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

// turnSession speaks TURN over one stunConn: the probe builds every message itself so it
// can report the raw exchange (the 401 challenge, exact error codes).
type turnSession struct {
	c        *stunConn
	username string
	password string // kept in memory only; never reported
	realm    string
	nonce    string

	relayed  *net.UDPAddr
	mapped   *net.UDPAddr
	lifetime time.Duration
}

// challengeResult is what the unauthenticated Allocate returned.
type challengeResult struct {
	msg *stun.Message
	rtt time.Duration
}

// challenge sends an Allocate without credentials. A TURN server with long-term
// credentials answers 401 with REALM and NONCE.
func (s *turnSession) challenge(ctx context.Context) (*challengeResult, error) {
	req, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		requestedTransportUDP, stun.Fingerprint)
	if err != nil {
		return nil, fmt.Errorf("build allocate: %w", err)
	}
	res, rtt, err := s.c.roundTrip(ctx, req)
	if err != nil {
		return nil, err
	}
	var realm stun.Realm
	var nonce stun.Nonce
	if realm.GetFrom(res) == nil {
		s.realm = realm.String()
	}
	if nonce.GetFrom(res) == nil {
		s.nonce = nonce.String()
	}
	return &challengeResult{msg: res, rtt: rtt}, nil
}

// authRequest sends an authenticated request, answering one 438 Stale Nonce with a retry.
// An error response comes back as *STUNError.
func (s *turnSession) authRequest(ctx context.Context, method stun.Method, attrs ...stun.Setter) (*stun.Message, time.Duration, error) {
	for attempt := 0; ; attempt++ {
		setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
		setters = append(setters, attrs...)
		setters = append(setters,
			stun.NewUsername(s.username), stun.NewRealm(s.realm), stun.NewNonce(s.nonce),
			stun.NewLongTermIntegrity(s.username, s.realm, s.password), stun.Fingerprint)
		req, err := stun.Build(setters...)
		if err != nil {
			return nil, 0, fmt.Errorf("build %s: %w", method, err)
		}
		res, rtt, err := s.c.roundTrip(ctx, req)
		if err != nil {
			return nil, 0, err
		}
		if res.Type.Class != stun.ClassErrorResponse {
			return res, rtt, nil
		}
		serr := errorFrom(method, res)
		if serr.Code == 438 && attempt == 0 {
			var nonce stun.Nonce
			if nonce.GetFrom(res) == nil {
				s.nonce = nonce.String()
				continue
			}
		}
		return res, rtt, serr
	}
}

// allocate performs the authenticated Allocate and records the relayed address.
func (s *turnSession) allocate(ctx context.Context) (time.Duration, error) {
	res, rtt, err := s.authRequest(ctx, stun.MethodAllocate, requestedTransportUDP)
	if err != nil {
		return rtt, err
	}
	if err := s.readAllocation(res); err != nil {
		return rtt, err
	}
	return rtt, nil
}

// readAllocation extracts relayed/mapped address and lifetime from an Allocate success.
func (s *turnSession) readAllocation(res *stun.Message) error {
	var relayed, mapped stun.XORMappedAddress
	if err := relayed.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		return fmt.Errorf("%w: Allocate success without XOR-RELAYED-ADDRESS: %w", ErrProtocol, err)
	}
	s.relayed = &net.UDPAddr{IP: relayed.IP, Port: relayed.Port}
	if mapped.GetFrom(res) == nil {
		s.mapped = &net.UDPAddr{IP: mapped.IP, Port: mapped.Port}
	}
	if v, err := res.Get(stun.AttrLifetime); err == nil && len(v) == 4 {
		s.lifetime = time.Duration(binary.BigEndian.Uint32(v)) * time.Second
	}
	return nil
}

// createPermission installs a permission for peer's IP.
func (s *turnSession) createPermission(ctx context.Context, peer *net.UDPAddr) (time.Duration, error) {
	_, rtt, err := s.authRequest(ctx, stun.MethodCreatePermission, peerAddr(peer))
	return rtt, err
}

// deallocate sends Refresh with LIFETIME 0 so the server frees the relay port now.
func (s *turnSession) deallocate(ctx context.Context) {
	if s.relayed == nil {
		return
	}
	_, _, _ = s.authRequest(ctx, stun.MethodRefresh, stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0, 0}})
}

// deallocateNoAuth frees an allocation an open relay made without credentials.
func (s *turnSession) deallocateNoAuth(ctx context.Context) {
	req, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassRequest),
		stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0, 0}}, stun.Fingerprint)
	if err != nil {
		return
	}
	_, _, _ = s.c.roundTrip(ctx, req)
}

// sendTo relays data to peer with a Send indication.
func (s *turnSession) sendTo(peer *net.UDPAddr, data []byte) error {
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		peerAddr(peer), stun.RawAttribute{Type: stun.AttrData, Value: data}, stun.Fingerprint)
	if err != nil {
		return fmt.Errorf("build send: %w", err)
	}
	return s.c.send(m)
}

// dataFrom unpacks a Data indication.
func dataFrom(m *stun.Message) (*net.UDPAddr, []byte, bool) {
	if m.Type.Method != stun.MethodData || m.Type.Class != stun.ClassIndication {
		return nil, nil, false
	}
	var from stun.XORMappedAddress
	if from.GetFromAs(m, stun.AttrXORPeerAddress) != nil {
		return nil, nil, false
	}
	data, err := m.Get(stun.AttrData)
	if err != nil {
		return nil, nil, false
	}
	return &net.UDPAddr{IP: from.IP, Port: from.Port}, data, true
}

type xorPeer struct{ addr *net.UDPAddr }

func (p xorPeer) AddTo(m *stun.Message) error {
	return stun.XORMappedAddress{IP: p.addr.IP, Port: p.addr.Port}.AddToAs(m, stun.AttrXORPeerAddress)
}

func peerAddr(a *net.UDPAddr) stun.Setter { return xorPeer{a} }

// errorFrom builds a *STUNError from an error response.
func errorFrom(method stun.Method, res *stun.Message) *STUNError {
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res); err != nil {
		return &STUNError{Method: method.String(), Code: 0, Reason: "error response without ERROR-CODE"}
	}
	return &STUNError{Method: method.String(), Code: int(code.Code), Reason: string(code.Reason)}
}

// asSTUNError returns err's *STUNError, if any.
func asSTUNError(err error) (*STUNError, bool) {
	var se *STUNError
	ok := errors.As(err, &se)
	return se, ok
}
