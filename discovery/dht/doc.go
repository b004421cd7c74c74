// Package dht is a node of the hyperswarm v2 DHT: the Kademlia RPC of
// dht-rpc 4 with the "peers" command of @hyperswarm/dht 4, so Go and
// JavaScript peers announce and look up topics through one DHT.
//
// Every UDP datagram is one protobuf Message (dht.proto, the reference's
// schema). A request carries a 16-bit request id (rid) that its response
// echoes; a request unanswered is sent again twice before it fails
// (Config.Timeout). The node keeps a k-bucket routing table of 20 nodes per
// bucket, filled from every message that carries a 32-byte node id, and
// serves the built-in commands _ping, _find_node and _holepunch and the
// "peers" command:
//
//   - a QUERY "peers" returns the peers announced for the target (up to 128
//     remote peers as 6-byte IPv4 records, and up to 32 peers that share the
//     querier's /16 local address prefix as 4-byte records);
//   - an UPDATE "peers" records or, with unannounce set, removes the
//     sender as a peer of the target. An UPDATE must carry the roundtrip
//     token the node gave the sender in an earlier response: a BLAKE2b-256
//     of a secret rotated every 5 minutes and the sender's IP address, so
//     nobody can announce an address they do not receive packets at.
//
// Queries walk towards the target as QueryStream does in dht-rpc: ask the
// closest known nodes (or the bootstrap nodes when the table is small),
// add the closer nodes they return, stop when no unasked node is closer, then
// for an update send it to the 20 closest nodes that gave a token.
//
// A node is ephemeral by default, as hyperswarm's discovery makes it: it
// leaves its id out of its messages, so other nodes do not add it to their
// routing tables. A bootstrap node is not ephemeral.
//
// The mutable-store and immutable-store commands of @hyperswarm/dht are not
// served (they answer "Unsupported command", as dht-rpc answers any command
// it does not know). Malformed datagrams are dropped with a debug log.
package dht

//go:generate protoc -I ../.. --go_out=../.. --go_opt=paths=source_relative discovery/dht/dht.proto
