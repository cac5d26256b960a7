package probe

import (
	"context"
	"fmt"
	"net"

	"github.com/pion/stun/v4"
)

type stunSoftware struct{}

// from returns the SOFTWARE attribute of m ("" when absent).
func (stunSoftware) from(m *stun.Message) string {
	var sw stun.Software
	if sw.GetFrom(m) != nil {
		return ""
	}
	return sw.String()
}

// errorResponse returns m's error when it is an error response.
func errorResponse(m *stun.Message) (*STUNError, bool) {
	if m.Type.Class != stun.ClassErrorResponse {
		return nil, false
	}
	return errorFrom(m.Type.Method, m), true
}

// stunBinding sends a Binding request over c and returns the mapped address.
func stunBinding(ctx context.Context, c *stunConn) (*net.UDPAddr, error) {
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return nil, fmt.Errorf("build binding: %w", err)
	}
	res, _, err := c.roundTrip(ctx, req)
	if err != nil {
		return nil, err
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(res); err != nil {
		var plain stun.MappedAddress
		if err2 := plain.GetFrom(res); err2 != nil {
			return nil, fmt.Errorf("%w: binding response without a mapped address", ErrProtocol)
		}
		return &net.UDPAddr{IP: plain.IP, Port: plain.Port}, nil
	}
	return &net.UDPAddr{IP: xor.IP, Port: xor.Port}, nil
}
