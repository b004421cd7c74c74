package replication

import (
	"errors"
	"log/slog"
)

// Errors callers branch on with errors.Is.
var (
	// ErrClosed: the stream or replicator is closed.
	ErrClosed = errors.New("replication: closed")
	// ErrTimeout: nothing was received for the stream's idle timeout.
	ErrTimeout = errors.New("replication: stream idle timeout")
	// ErrRequestTimeout: a peer did not answer a request in time.
	ErrRequestTimeout = errors.New("replication: request timeout")
	// ErrBadCapability: a channel's capability does not prove knowledge of
	// the feed key.
	ErrBadCapability = errors.New("replication: invalid remote channel capability")
	// ErrUnrequested: a peer sent a block that was never requested from it.
	ErrUnrequested = errors.New("replication: data for a block never requested")
	// ErrProtocol: a peer broke the protocol (too many channels or pending
	// requests, a malformed bitfield, an impossible range).
	ErrProtocol = errors.New("replication: protocol violation")
	// ErrNoUpdate: Update with IfAvailable found no peer with a longer feed.
	ErrNoUpdate = errors.New("replication: no update available from peers")
	// ErrCanceled: a Download was cancelled.
	ErrCanceled = errors.New("replication: download canceled")
	// ErrAlreadyReplicating: the feed already has a channel on the stream.
	ErrAlreadyReplicating = errors.New("replication: feed already replicating on this stream")
)

// defaultLogger is the package's logger when none is configured.
func defaultLogger() *slog.Logger { return slog.Default().With("pkg", "replication") }
