package dht

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"google.golang.org/protobuf/proto"
)

// Reply is one node's response to a query.
type Reply struct {
	Node   netip.AddrPort // the node that answered
	NodeID []byte         // its id, nil if it is ephemeral
	// To is our address as the node saw it (invalid if it did not say).
	To    netip.AddrPort
	Value []byte // the response value
}

// qnode is a node a query knows of.
type qnode struct {
	id       [IDLen]byte
	hasID    bool
	addr     netip.AddrPort
	dist     [IDLen]byte
	token    []byte
	queried  bool
	referrer netip.AddrPort
}

// queryTable is dht-rpc's QueryTable: the K closest nodes that answered
// with a token, and the K closest nodes heard of.
type queryTable struct {
	self, target [IDLen]byte
	closest      []*qnode
	unverified   []*qnode
}

func insertSorted(list []*qnode, n *qnode) []*qnode {
	if len(list) == K && bytes.Compare(n.dist[:], list[K-1].dist[:]) >= 0 {
		return list
	}
	for _, o := range list {
		if o.hasID && n.hasID && o.id == n.id {
			return list
		}
	}
	if len(list) == K {
		list = list[:K-1]
	}
	i, _ := slices.BinarySearchFunc(list, n, func(a, b *qnode) int { return bytes.Compare(a.dist[:], b.dist[:]) })
	return slices.Insert(list, i, n)
}

func (t *queryTable) addUnverified(n *qnode) {
	if n.id == t.self {
		return
	}
	n.dist = distance(t.target, n.id)
	t.unverified = insertSorted(t.unverified, n)
}

func (t *queryTable) addVerified(m *Message, from netip.AddrPort) {
	if m.Id == nil || m.RoundtripToken == nil || [IDLen]byte(m.Id) == t.self {
		return
	}
	id := [IDLen]byte(m.Id)
	var prev *qnode
	for _, n := range t.unverified {
		if n.hasID && n.id == id {
			prev = n
			break
		}
	}
	if prev == nil {
		prev = &qnode{id: id, hasID: true, addr: from, dist: distance(id, t.target)}
	}
	prev.token = m.RoundtripToken
	t.closest = insertSorted(t.closest, prev)
}

// queryOptions says what a query does at each node.
type queryOptions struct {
	command string
	target  [IDLen]byte
	value   []byte
	query   bool // send the command while moving closer, and report replies
	update  bool // send the command as an update to the closest nodes
}

type queryResult struct {
	n      *qnode
	m      *Message
	from   netip.AddrPort
	err    error
	update bool
}

// runQuery runs one iterative query as dht-rpc's QueryStream, calling
// onReply (from this goroutine) for each reply to the command.
func (n *Node) runQuery(ctx context.Context, o queryOptions, onReply func(Reply)) error {
	t := &queryTable{self: n.id, target: o.target}
	results := make(chan queryResult)
	inflight := 0
	responses, updates := 0, 0
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		for ; inflight > 0; inflight-- {
			<-results
		}
	}()

	send := func(q *qnode, update bool) {
		inflight++
		m := &Message{Type: TYPE_QUERY.Enum(), Target: o.target[:]}
		switch {
		case update:
			m.Type = TYPE_UPDATE.Enum()
			m.Command = proto.String(o.command)
			m.Value = o.value
			m.RoundtripToken = q.token
		case o.query:
			m.Command = proto.String(o.command)
			m.Value = o.value
		default:
			m.Command = proto.String("_find_node")
		}
		var expect []byte
		if q.hasID {
			expect = q.id[:]
		}
		go func() {
			res, err := n.requestVia(ctx, m, q.addr, expect, q.referrer)
			var from netip.AddrPort
			if err == nil {
				from = q.addr
			}
			results <- queryResult{n: q, m: res, from: from, err: err, update: update}
		}()
	}

	// Bootstrapping: the closest nodes of the routing table, and the
	// bootstrap nodes too if the table has fewer nodes than them.
	n.mu.Lock()
	known := nodeInfos(n.table.closest(o.target, K)) // copies: addNode updates entries in place
	n.mu.Unlock()
	for _, e := range known {
		t.addUnverified(&qnode{id: e.ID, hasID: true, addr: e.Addr})
	}
	if len(known) < len(n.bootstrap) {
		for _, a := range n.resolveBootstrap(ctx) {
			send(&qnode{addr: a}, false)
		}
	}

	updating := false
	var lastErr error
	for {
		// Fill the window: move closer, or update the closest nodes.
		list := t.unverified
		if updating {
			list = t.closest
		}
		for _, q := range list {
			if inflight >= n.concurrency {
				break
			}
			if !q.queried {
				q.queried = true
				send(q, updating)
			}
		}
		if inflight == 0 {
			if !updating && o.update {
				updating = true
				for _, q := range t.closest {
					q.queried = false
				}
				if len(t.closest) > 0 {
					continue
				}
			}
			break
		}
		var r queryResult
		select {
		case r = <-results:
			inflight--
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			if errors.Is(r.err, ErrClosed) {
				return r.err
			}
			if r.n.hasID {
				n.removeNode(r.n.id)
			}
			lastErr = r.err
			n.log.Debug("query request failed", "command", o.command, "node", r.n.addr, "err", r.err)
			continue
		}
		responses++
		t.addVerified(r.m, r.from)
		if r.update {
			updates++
		} else if nodes, err := decodeNodes(r.m.CloserNodes); err == nil {
			for _, c := range nodes {
				t.addUnverified(&qnode{id: c.ID, hasID: true, addr: c.Addr, referrer: r.from})
			}
		}
		if r.m.Error != nil {
			n.log.Debug("query error reply", "command", o.command, "node", r.from, "error", r.m.GetError())
			continue
		}
		if !o.query && !r.update {
			continue
		}
		rep := Reply{Node: r.from, NodeID: r.m.Id, Value: r.m.Value}
		if len(r.m.To) == peerLen {
			rep.To, _ = decodePeer(r.m.To)
		}
		if onReply != nil {
			onReply(rep)
		}
	}
	if responses == 0 {
		if lastErr != nil {
			return fmt.Errorf("%w (last error: %w)", ErrNoNodes, lastErr)
		}
		return ErrNoNodes
	}
	if o.update && updates == 0 {
		return ErrNoCloseNodes
	}
	return nil
}

// Bootstrap walks towards our own id to fill the routing table, as
// dht-rpc's bootstrap. It fails with ErrNoNodes if no node answered.
func (n *Node) Bootstrap(ctx context.Context) error {
	err := n.runQuery(ctx, queryOptions{command: "_find_node", target: n.id}, nil)
	n.mu.Lock()
	n.bootstrapped = true
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("dht: bootstrap: %w", err)
	}
	return nil
}

// Query runs command towards target, calling onReply for every reply, as
// dht-rpc's query.
func (n *Node) Query(ctx context.Context, command string, target [IDLen]byte, value []byte, onReply func(Reply)) error {
	return n.runQuery(ctx, queryOptions{command: command, target: target, value: value, query: true}, onReply)
}
