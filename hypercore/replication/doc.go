// Package replication is the replication protocol of hypercore 9 over any
// stream: hypercore-protocol 8 sessions (Noise XX handshake, XSalsa20
// transport, channels multiplexed by discovery key) carrying the
// Want/Have/Request/Data exchange of hypercore 9's lib/replicate.js, wire
// compatible with JS peers.
//
// A Replicator holds what one feed shares between all its peers: the
// blocks readers wait for (it is the feed's hypercore.Fetcher), the
// download ranges (Download), update waiters (Update), the blocks reserved
// by in-flight requests, extensions, stats and events. A Stream is one
// connection: NewStream runs the handshake on an io.ReadWriteCloser, and
// Stream.Replicate opens a feed's channel on it, making a Peer.
//
// # Goroutines
//
// Each Stream runs three goroutines, as syncthing's rawConnection and quic's
// conn loop do: a reader that only reads and decodes frames, a writer that
// only writes (and sends keep-alives when idle), and a loop that owns every
// per-connection and per-peer field (channels, wants, remote bitfields,
// in-flight requests, upload queue). Other goroutines talk to the loop by
// posting functions to it. Replicator state shared by a feed's peers on
// several streams is guarded by Replicator.mu; the lock order is
// Replicator.mu, then the feed's own lock.
//
// # Errors
//
// Connection-fatal errors (a malformed frame, an unverifiable block, data
// never asked for, a bad capability on a channel we opened, an idle or
// request timeout) destroy the whole stream, as the reference does; the
// reason is logged and returned by Stream.Err. Channel-scoped conditions (a
// remote closing a feed, a capability that fails on a channel the remote
// opened first) close that feed's channel only.
//
// # Trust
//
// Blocks from a peer are stored only through hypercore.Feed.Put, which
// verifies them against the merkle tree and the feed's signature first;
// a peer that sends an unverifiable block is dropped and nothing is stored.
package replication
