package signal

// fastDecode parses the shape every course client sends, without reflection: one flat
// JSON object whose keys are exactly among cmd, roomId, uid, remoteUid and msg (each at
// most once), cmd a known command, ids plain strings or small integers, msg a string. For
// anything else it returns ok=false and the server falls back to Decode, which also
// produces the error reply. When ok, the input is valid JSON and the result equals
// Decode's, except that Msg is only known to be empty or not (the server forwards the
// original bytes and never reads msg): FuzzServerFastDecode checks this.
//
// Decode costs ~30 allocations and a reflective pass per frame; this is most of the
// server's CPU per relay besides the socket calls.
func fastDecode(data []byte) (m Message, ok bool) {
	p := scanner{b: data}
	p.ws()
	if !p.eat('{') {
		return m, false
	}
	var seen uint8
	p.ws()
	if p.eat('}') {
		return m, false // no cmd
	}
	for {
		p.ws()
		key, esc, good := p.str()
		if !good || esc {
			return m, false
		}
		p.ws()
		if !p.eat(':') {
			return m, false
		}
		p.ws()
		var bit uint8
		switch string(key) {
		case "cmd":
			bit = 1
			v, esc, good := p.str()
			if !good || esc {
				return m, false
			}
			cmd, known := fastCmds[string(v)]
			if !known {
				return m, false
			}
			m.Cmd = cmd
		case "roomId":
			bit = 2
			if m.RoomID, ok = p.id(); !ok {
				return m, false
			}
		case "uid":
			bit = 4
			if m.UID, ok = p.id(); !ok {
				return m, false
			}
		case "remoteUid":
			bit = 8
			if m.RemoteUID, ok = p.id(); !ok {
				return m, false
			}
		case "msg":
			bit = 16
			v, _, good := p.str()
			if !good {
				return m, false
			}
			if len(v) > 0 {
				m.Msg = msgPresent
			}
		default:
			return m, false
		}
		if seen&bit != 0 {
			return m, false // duplicate key: leave the last-wins rule to Decode
		}
		seen |= bit
		p.ws()
		if p.eat(',') {
			continue
		}
		if !p.eat('}') {
			return m, false
		}
		p.ws()
		return m, seen&1 != 0 && p.i == len(p.b)
	}
}

// msgPresent stands for a non-empty msg in fastDecode's result.
const msgPresent = "\x00present"

// fastCmds maps the command names to constants, so that the lookup does not allocate.
var fastCmds = func() map[string]string {
	m := make(map[string]string, len(knownCmds))
	for c := range knownCmds {
		m[c] = c
	}
	return m
}()

// scanner walks a byte slice; every method reports false on anything it does not accept.
type scanner struct {
	b []byte
	i int
}

func (p *scanner) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *scanner) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a JSON string and returns its raw content (between the quotes) and whether it
// holds escapes. It validates escapes and rejects control characters, as JSON requires;
// UTF-8 validity is checked by the caller for the whole frame.
func (p *scanner) str() (raw []byte, esc, ok bool) {
	if !p.eat('"') {
		return nil, false, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			raw = p.b[start:p.i]
			p.i++
			return raw, esc, true
		case c < 0x20:
			return nil, false, false
		case c == '\\':
			esc = true
			if p.i+1 >= len(p.b) {
				return nil, false, false
			}
			switch p.b[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if p.i+6 > len(p.b) {
					return nil, false, false
				}
				for _, h := range p.b[p.i+2 : p.i+6] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				p.i += 6
			default:
				return nil, false, false
			}
		default:
			p.i++
		}
	}
	return nil, false, false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// id reads a roomId/uid value whose canonical form (see ID) is its raw text: a string of
// printable ASCII that json.Marshal leaves alone, or an integer of at most 15 digits
// without a leading zero (canonicalNumber keeps those as they are).
func (p *scanner) id() (ID, bool) {
	if p.i >= len(p.b) {
		return ID{}, false
	}
	start := p.i
	if p.b[p.i] == '"' {
		raw, esc, ok := p.str()
		if !ok || esc {
			return ID{}, false
		}
		for _, c := range raw {
			if c < 0x20 || c > 0x7e || c == '<' || c == '>' || c == '&' {
				return ID{}, false
			}
		}
		return ID{raw: string(p.b[start:p.i])}, true
	}
	p.eat('-')
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n := p.i - digits
	if n == 0 || n > 15 || p.b[digits] == '0' {
		return ID{}, false // includes 0 and -0: rare enough for Decode
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return ID{}, false
		}
	}
	return ID{raw: string(p.b[start:p.i])}, true
}
