// Package delayproxy forwards TCP connections and holds every chunk of
// bytes for a fixed delay in each direction, to give a link a round-trip
// time where tc netem is not available. Chunks are stamped when read and
// queued; a writer sends each when its time comes, so the delay adds
// latency without limiting bandwidth (sleeping after every read would cap
// a connection at one read per delay). The queue holds up to QueueBytes per
// direction, beyond which reading waits and TCP pushes back on the sender.
package delayproxy

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// QueueBytes is the most a direction of a connection holds: far more than a
// 1 Gbit/s link carries in 25 ms, so the queue never limits the rate.
const QueueBytes = 8 << 20

// chunkSize is the largest read.
const chunkSize = 64 << 10

// Proxy accepts connections on one address and forwards each to another.
type Proxy struct {
	ln    net.Listener
	to    string
	delay time.Duration
	log   *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Listen forwards connections to listen (host:port) to the address to,
// holding bytes for delay each way (the round trip gains twice delay).
func Listen(listen, to string, delay time.Duration, log *slog.Logger) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Proxy{ln: ln, to: to, delay: delay, log: log, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() net.Addr { return p.ln.Addr() }

// Close stops accepting, cuts every forwarded connection and waits for
// their goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(in) {
			return
		}
		p.wg.Add(1)
		go p.forward(in)
	}
}

func (p *Proxy) forward(in net.Conn) {
	defer p.wg.Done()
	defer p.untrack(in)
	out, err := net.DialTimeout("tcp", p.to, 10*time.Second)
	if err != nil {
		p.log.Warn("delay proxy: dial failed", "to", p.to, "err", err)
		return
	}
	if !p.track(out) {
		return
	}
	defer p.untrack(out)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(out, in) }()
	go func() { defer wg.Done(); p.pipe(in, out) }()
	wg.Wait()
}

// chunk is bytes read at some time, due for writing delay later.
type chunk struct {
	b   []byte
	due time.Time
}

// queue is one direction's chunks in order, bounded by bytes.
type queue struct {
	mu     sync.Mutex
	cond   sync.Cond
	chunks []chunk
	bytes  int
	eof    bool // the reader is done: write what is queued, then stop
	broken bool // the writer failed: the reader stops
}

func (q *queue) push(c chunk) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.bytes >= QueueBytes && !q.broken {
		q.cond.Wait()
	}
	if q.broken {
		return false
	}
	q.chunks = append(q.chunks, c)
	q.bytes += len(c.b)
	q.cond.Broadcast()
	return true
}

// pop returns the next chunk, or false once the reader is done and the
// queue drained.
func (q *queue) pop() (chunk, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.chunks) == 0 && !q.eof {
		q.cond.Wait()
	}
	if len(q.chunks) == 0 {
		return chunk{}, false
	}
	c := q.chunks[0]
	q.chunks[0] = chunk{}
	q.chunks = q.chunks[1:]
	q.bytes -= len(c.b)
	q.cond.Broadcast()
	return c, true
}

func (q *queue) finish(broken bool) {
	q.mu.Lock()
	q.eof = true
	q.broken = q.broken || broken
	q.cond.Broadcast()
	q.mu.Unlock()
}

// pipe copies src to dst, each chunk delay late. src's end is passed on as
// a half close once everything before it is written.
func (p *Proxy) pipe(dst, src net.Conn) {
	q := &queue{}
	q.cond.L = &q.mu
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, ok := q.pop()
			if !ok {
				break
			}
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.b); err != nil {
				q.finish(true)
				src.Close() // unblock the reader
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	b := make([]byte, chunkSize)
	for {
		n, err := src.Read(b)
		if n > 0 {
			// A queued chunk keeps its slice: a short read gets one of
			// its own size, so the queue's bytes are what it holds.
			c := chunk{b: b[:n], due: time.Now().Add(p.delay)}
			if n < chunkSize/2 {
				c.b = append([]byte(nil), b[:n]...)
			} else {
				b = make([]byte, chunkSize)
			}
			if !q.push(c) {
				break
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				if !errors.Is(err, net.ErrClosed) {
					p.log.Debug("delay proxy: read", "err", err)
				}
				// A reset, not an end: the peer gets no clean end either.
				q.finish(false)
				<-done
				dst.Close()
				return
			}
			break
		}
	}
	q.finish(false)
	<-done
}
