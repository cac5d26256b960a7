// Package signal speaks the room signaling protocol of the one-to-one WebRTC course system
// (join, resp-join, new-peer, peer-leave, leave, offer, answer, candidate) described in
// shared/protocol.md: message types, a client, and a hardened reference server.
package signal
