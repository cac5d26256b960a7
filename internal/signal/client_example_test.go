package signal_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rtcctl/rtcctl/internal/signal"
)

// Join a room and tell the original server's silence apart from a reply.
func ExampleDial() {
	ctx := context.Background()
	c, err := signal.Dial(ctx, signal.ClientConfig{URL: "wss://signal.example:8098/ws", Insecure: true})
	if err != nil {
		var ue *signal.UpgradeError
		switch {
		case errors.As(err, &ue):
			fmt.Println("not a websocket endpoint, HTTP", ue.Status)
		case errors.Is(err, signal.ErrTLS):
			fmt.Println("TLS:", err)
		default:
			fmt.Println(err)
		}
		return
	}
	defer c.Close()
	room, me := signal.StringID("100"), signal.StringID("rtcctl")
	if err := c.Join(room, me); err != nil {
		fmt.Println(err)
		return
	}
	m, err := c.WaitFor(ctx, 3*time.Second, signal.CmdRespJoin, signal.CmdNewPeer)
	switch {
	case errors.Is(err, signal.ErrNoReply):
		fmt.Println("alone in the room, the room is full, or the peer used a number room id")
	case errors.Is(err, signal.ErrRoomFull):
		fmt.Println("room full")
	case err != nil:
		fmt.Println("connection ended:", err, c.CloseInfo().Code)
	default:
		fmt.Println(m.Cmd, m.RemoteUID)
	}
}
