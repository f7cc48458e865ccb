package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
)

// configCache keeps what ingest batches read of configuration (projects,
// hooks, installations, alert rules), by id, for one configuration version:
// the number in config_version, which triggers move on with every change to
// those tables (migration 0015). A batch reads the version, one small
// query, and reads again only the ids the cache does not hold at that
// version; a storm of events to one project then reads its configuration
// once per version, instead of in four to six queries in every batch.
//
// What it holds is shared by every batch that reads it: callers must not
// modify it. Only transactions that asked for it (Tx.CacheConfig) use it,
// and those must not change configuration themselves, so that nothing
// uncommitted is ever kept.
type configCache struct {
	mu      sync.Mutex
	version int64
	// kinds holds, per kind of read ("projects", "hooks", ...), what was
	// read of each id: the value and whether the database had one.
	kinds map[string]map[int64]cached
}

// cached is what one read found of one id.
type cached struct {
	value any
	found bool
}

// lookup returns what the cache holds of ids at version, and the ids it
// does not hold. The cache forgets everything when version is newer than
// its own; a batch that read an older version (committed versions only
// grow) finds nothing, and leaves the newer entries to the batches after
// it.
func (c *configCache) lookup(version int64, kind string, ids []int64) (hit map[int64]cached, missing []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version > c.version || c.kinds == nil {
		c.version, c.kinds = version, map[string]map[int64]cached{}
	}
	var known map[int64]cached
	if version == c.version {
		known = c.kinds[kind]
	}
	hit = make(map[int64]cached, len(ids))
	for _, id := range ids {
		if v, ok := known[id]; ok {
			hit[id] = v
		} else if !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	return hit, missing
}

// store keeps what was read of ids at version, unless the cache has moved
// on to another version meanwhile.
func (c *configCache) store(version int64, kind string, read map[int64]cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != version {
		return
	}
	known := c.kinds[kind]
	if known == nil {
		known = map[int64]cached{}
		c.kinds[kind] = known
	}
	for id, v := range read {
		known[id] = v
	}
}

// CacheConfig makes the transaction's reads of projects, hooks,
// installations and alert rules by id (Projects, ActiveHooks,
// OrgInstallations, ProjectRules, MetricRules of organizations) go through
// the store's configuration cache. The values they return are then shared:
// the caller must not modify them, and the transaction must not change
// configuration before it reads it.
func (t *Tx) CacheConfig() {
	t.cacheConfig = t.tx != nil
}

// configVersion reads the configuration version, once per transaction.
func (t *Tx) configVersion(ctx context.Context) (int64, error) {
	if !t.versionRead {
		if err := t.s.queryRow(ctx, t.tx, `SELECT n FROM config_version WHERE id = 1`).Scan(&t.version); err != nil {
			return 0, fmt.Errorf("read configuration version: %w", err)
		}
		t.versionRead = true
	}
	return t.version, nil
}

// byID returns what load finds of ids, through the configuration cache when
// the transaction uses it: load is called with the ids the cache does not
// hold at the current version (not at all when it holds them all) and
// returns what it found of them; ids it found nothing of are absent from
// the map byID returns, as they are from what load returns.
func byID[V any](ctx context.Context, t *Tx, kind string, ids []int64, load func(ids []int64) (map[int64]V, error)) (map[int64]V, error) {
	if !t.cacheConfig {
		return load(ids)
	}
	version, err := t.configVersion(ctx)
	if err != nil {
		return nil, err
	}
	hit, missing := t.s.config.lookup(version, kind, ids)
	out := make(map[int64]V, len(ids))
	for id, v := range hit {
		if v.found {
			out[id] = v.value.(V)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	read, err := load(missing)
	if err != nil {
		return nil, err
	}
	keep := make(map[int64]cached, len(missing))
	for _, id := range missing {
		v, ok := read[id]
		keep[id] = cached{value: v, found: ok}
		if ok {
			out[id] = v
		}
	}
	t.s.config.store(version, kind, keep)
	return out, nil
}

// listByID is byID for a list read for a set of ids (the rules of
// projects, say): owner gives the id each item belongs to, and the items of
// every id come back together in order of itemID.
func listByID[V any](ctx context.Context, t *Tx, kind string, ids []int64, owner, itemID func(V) int64, load func(ids []int64) ([]V, error)) ([]V, error) {
	byOwner, err := byID(ctx, t, kind, ids, func(ids []int64) (map[int64][]V, error) {
		list, err := load(ids)
		if err != nil {
			return nil, err
		}
		out := map[int64][]V{}
		for _, v := range list {
			out[owner(v)] = append(out[owner(v)], v)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	out := []V{}
	for _, l := range byOwner {
		out = append(out, l...)
	}
	slices.SortFunc(out, func(a, b V) int { return cmp.Compare(itemID(a), itemID(b)) })
	return out, nil
}
