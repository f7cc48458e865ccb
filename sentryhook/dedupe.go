package sentryhook

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Deduper remembers which deliveries a receiver has taken on, so that a
// retry or a redelivery of one is not processed twice. Keys come from
// Delivery.DedupeKey. Implementations must be safe for concurrent use; one
// shared by several receiver processes (a database table, a Redis SET NX
// with a TTL) makes the deduplication hold across them.
type Deduper interface {
	// Seen records key and reports whether it was already recorded. Two
	// concurrent calls with one key must not both report false.
	Seen(ctx context.Context, key string) (bool, error)
	// Forget removes key, so that the next delivery with it is taken on
	// again: a receiver forgets a delivery it could not process.
	Forget(ctx context.Context, key string) error
}

// MemoryDeduper defaults.
const (
	DefaultDedupeTTL     = 24 * time.Hour
	DefaultDedupeMaxKeys = 100_000
)

// MemoryDeduperOptions configure a MemoryDeduper.
type MemoryDeduperOptions struct {
	// TTL is how long a key is remembered. Default DefaultDedupeTTL.
	TTL time.Duration
	// MaxKeys bounds the keys remembered; when full, the oldest key is
	// forgotten first. Default DefaultDedupeMaxKeys.
	MaxKeys int
	// Now tells the time. Default time.Now.
	Now func() time.Time
}

// MemoryDeduper is a Deduper in memory, for one receiver process. It
// remembers each key for a TTL and at most MaxKeys keys, so its memory is
// bounded; a duplicate that arrives after its key was dropped is taken on
// again, which an at-least-once receiver has to tolerate anyway.
type MemoryDeduper struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	keys  map[string]*list.Element
	order *list.List // of *dedupeEntry, oldest first
}

// dedupeEntry is a key and when it expires.
type dedupeEntry struct {
	key     string
	expires time.Time
}

var _ Deduper = (*MemoryDeduper)(nil)

// NewMemoryDeduper returns an empty MemoryDeduper with opts, defaults filled
// in.
func NewMemoryDeduper(opts MemoryDeduperOptions) *MemoryDeduper {
	if opts.TTL <= 0 {
		opts.TTL = DefaultDedupeTTL
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultDedupeMaxKeys
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &MemoryDeduper{
		ttl:   opts.TTL,
		max:   opts.MaxKeys,
		now:   opts.Now,
		keys:  make(map[string]*list.Element),
		order: list.New(),
	}
}

// Seen records key for the TTL and reports whether it was already recorded
// and not expired. It never fails.
func (m *MemoryDeduper) Seen(_ context.Context, key string) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	if _, ok := m.keys[key]; ok {
		return true, nil
	}
	for m.order.Len() >= m.max {
		m.remove(m.order.Front())
	}
	m.keys[key] = m.order.PushBack(&dedupeEntry{key: key, expires: now.Add(m.ttl)})
	return false, nil
}

// Forget removes key. It never fails.
func (m *MemoryDeduper) Forget(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.keys[key]; ok {
		m.remove(e)
	}
	return nil
}

// Len returns how many keys are remembered, expired ones included until
// the next Seen.
func (m *MemoryDeduper) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

// expire drops the keys expired at now. Keys expire in the order they were
// recorded, since they share one TTL.
func (m *MemoryDeduper) expire(now time.Time) {
	for e := m.order.Front(); e != nil && !now.Before(e.Value.(*dedupeEntry).expires); e = m.order.Front() {
		m.remove(e)
	}
}

func (m *MemoryDeduper) remove(e *list.Element) {
	delete(m.keys, e.Value.(*dedupeEntry).key)
	m.order.Remove(e)
}
