// Package load runs many rooms at once against a signaling deployment and reports them as
// data: success rate, failures grouped by verdict, connect-time and media percentiles
// across calls, and the load generator's own CPU, memory and scheduler lag (so a report
// can say when the tester, not the server, was the bottleneck).
//
// Two modes: ModeSignal speaks the room protocol directly over lightweight websockets
// (two per room: join, a real-size offer/answer, candidates, leave) to load the signaling
// server alone; ModeMedia runs a verified call per room through a RoomRunner (PeerRunner
// wraps peer.RunCall). Rooms start at a paced rate and may be split over testers with
// Shard; Merge combines shard reports, recomputing every percentile from the merged
// stats.Dist distributions.
package load
