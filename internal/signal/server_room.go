package signal

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// member is one (uid, connection) entry of a room.
type member struct {
	uid ID
	c   *conn
}

// room holds at most two members. Rooms live in Server.rooms keyed by the roomId's exact
// JSON text, so the number 100 and the string "100" are different rooms.
type room struct {
	id      ID
	key     string
	members []member
}

func (r *room) indexOfUID(key string) int {
	for i, m := range r.members {
		if m.uid.Key() == key {
			return i
		}
	}
	return -1
}

// maxIDBytes caps the JSON text of a roomId, uid or remoteUid. Course clients use short
// ids; the cap keeps rooms and log lines small whatever a client sends.
const maxIDBytes = 256

// pingReply answers an application keepalive; see the Server doc comment.
var pingReply = []byte(`{"cmd":"ping"}`)

// handle processes one text frame of c. It reports whether fb went to a write queue
// (a relay); otherwise the caller recycles it.
func (s *Server) handle(c *conn, fb *frameBuf) (kept bool) {
	data := fb.b
	if !utf8.Valid(data) {
		c.replyError(CodeMalformed, "frame is not valid UTF-8")
		return
	}
	m, ok := fastDecode(data)
	if !ok {
		var err error
		if m, err = Decode(data); err != nil {
			c.replyError(codeFor(err), strings.TrimPrefix(err.Error(), "signal: "))
			return
		}
	}
	switch m.Cmd {
	case CmdPing:
		c.reply(pingReply)
		return
	case CmdPong:
		return
	case CmdJoin, CmdLeave, CmdOffer, CmdAnswer, CmdCandidate:
	default:
		c.replyError(CodeUnknownCmd, fmt.Sprintf("%q is not a client command", m.Cmd))
		return
	}
	if err := m.Validate(); err != nil {
		c.replyError(CodeBadField, strings.TrimPrefix(err.Error(), "signal: "))
		return
	}
	if len(m.RoomID.Key()) > maxIDBytes || len(m.UID.Key()) > maxIDBytes || len(m.RemoteUID.Key()) > maxIDBytes {
		c.replyError(CodeBadField, fmt.Sprintf("roomId, uid and remoteUid are limited to %d bytes", maxIDBytes))
		return
	}
	switch m.Cmd {
	case CmdJoin:
		s.join(c, m)
	case CmdLeave:
		s.leave(c, m)
	default:
		return s.relay(c, m, fb)
	}
	return false
}

// join implements the join policy documented on Server. Messages are queued while s.mu is
// held so that every client sees room events in the order they happened.
func (s *Server) join(c *conn, m Message) {
	rk, uk := m.RoomID.Key(), m.UID.Key()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.room != nil && c.room.key == rk && c.uid.Key() == uk {
		s.cfg.Logf("signal: conn %d join room=%s uid=%s repeated: ignored", c.id, logKey(m.RoomID), logKey(m.UID))
		return
	}
	var old *conn // the connection that holds this uid in this room now
	if r := s.rooms[rk]; r != nil {
		if i := r.indexOfUID(uk); i >= 0 {
			old = r.members[i].c
		} else {
			others := 0
			for _, mb := range r.members {
				if mb.c != c {
					others++
				}
			}
			if others >= 2 {
				s.full.Add(1)
				s.cfg.Logf("signal: conn %d join room=%s uid=%s: room full", c.id, logKey(m.RoomID), logKey(m.UID))
				c.sendMsg(Message{Cmd: CmdFull, RoomID: m.RoomID, UID: m.UID})
				return
			}
		}
	}
	if c.room != nil {
		s.removeLocked(c, "leave (joined elsewhere)")
	}
	r := s.rooms[rk]
	if r == nil {
		r = &room{id: m.RoomID, key: rk}
		s.rooms[rk] = r
	}
	if old != nil {
		r.members[r.indexOfUID(uk)].c = c
		old.room, old.uid = nil, ID{}
		s.replaced.Add(1)
		s.cfg.Logf("signal: conn %d replaced by conn %d in room=%s uid=%s", old.id, c.id, logKey(m.RoomID), logKey(m.UID))
		old.sendMsg(Message{Cmd: CmdReplaced, RoomID: m.RoomID, UID: m.UID})
		old.closeWith(websocket.CloseNormalClosure, "replaced by a newer connection")
	} else {
		r.members = append(r.members, member{uid: m.UID, c: c})
	}
	c.room, c.uid = r, m.UID
	s.cfg.Logf("signal: conn %d join room=%s uid=%s members=%d", c.id, logKey(m.RoomID), logKey(m.UID), len(r.members))
	for _, mb := range r.members {
		if mb.c != c {
			mb.c.sendMsg(Message{Cmd: CmdNewPeer, RemoteUID: m.UID})
			c.sendMsg(Message{Cmd: CmdRespJoin, RemoteUID: mb.uid})
		}
	}
}

// leave removes c from its room when the message names exactly its membership. A leave
// from a connection in no room is ignored; one that names another membership is refused.
func (s *Server) leave(c *conn, m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.room == nil {
		// In no room (never joined, or left already: a double click on Leave): nothing
		// to undo, so the leave is ignored, as the protocol's clients expect.
		s.cfg.Logf("signal: conn %d: leave ignored: not in a room", c.id)
		return
	}
	if !c.isMemberLocked(m) {
		c.replyError(CodeNotMember, "leave: this connection did not join that room as that uid")
		return
	}
	s.removeLocked(c, "leave")
}

func (c *conn) isMemberLocked(m Message) bool {
	return c.room != nil && c.room.key == m.RoomID.Key() && c.uid.Key() == m.UID.Key()
}

// removeLocked takes c out of its room, tells the remaining member and frees an empty
// room. s.mu is held.
func (s *Server) removeLocked(c *conn, why string) {
	r, uid := c.room, c.uid
	c.room, c.uid = nil, ID{}
	for i, mb := range r.members {
		if mb.c == c {
			r.members = append(r.members[:i], r.members[i+1:]...)
			break
		}
	}
	for _, mb := range r.members {
		mb.c.sendMsg(Message{Cmd: CmdPeerLeave, RemoteUID: uid})
	}
	if len(r.members) == 0 {
		delete(s.rooms, r.key)
	}
	s.cfg.Logf("signal: conn %d %s room=%s uid=%s members=%d", c.id, why, logKey(r.id), logKey(uid), len(r.members))
}

// relay forwards an offer/answer/candidate frame unchanged to the other member named by
// remoteUid, after checking that the sender speaks for its own membership.
func (s *Server) relay(c *conn, m Message, fb *frameBuf) (kept bool) {
	s.mu.Lock()
	if !c.isMemberLocked(m) {
		s.mu.Unlock()
		c.replyError(CodeNotMember, m.Cmd+": this connection did not join that room as that uid")
		return
	}
	var target *conn
	rk := m.RemoteUID.Key()
	for _, mb := range c.room.members {
		if mb.c != c && mb.uid.Key() == rk {
			target = mb.c
		}
	}
	s.mu.Unlock()
	if target == nil {
		c.replyError(CodeNoPeer, m.Cmd+": remoteUid is not in your room")
		return
	}
	if !target.sendFrame(outFrame{typ: websocket.TextMessage, data: fb.b, buf: fb}) {
		return false
	}
	s.relayed.Add(1)
	return true
}

// detach runs when a connection ends: leave its room (peer-leave) and forget it.
func (s *Server) detach(c *conn) {
	s.mu.Lock()
	if c.room != nil {
		s.removeLocked(c, "gone")
	}
	delete(s.conns, c)
	s.mu.Unlock()
}
