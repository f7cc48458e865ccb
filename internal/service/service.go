// Package service decides what a change causes. It is the one place where
// Herald's decisions live: which issue an event joins and whether it
// regresses one, which issue alert rules fire, how metric alert counters
// move and when incidents open, change and close, which destinations
// receive which webhook with which payload (built by internal/webhook), and
// which deliveries this node claims to send at once.
//
// Each change runs as one store transaction (sqlstore.DB.InTx) composed of
// the store's primitives: the change and the deliveries it causes commit
// together (a transactional outbox), and the deliveries this node claimed
// are handed to its dispatcher once the transaction has committed. The API
// and the ingest handler call the service; the service calls the store,
// internal/alert (rule conditions), internal/webhook (payloads) and
// internal/delivery (the dispatcher).
package service

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/delivery"
	"github.com/herald-dev/herald/internal/sqlstore"
	"github.com/herald-dev/herald/internal/webhook"
)

// Config configures a Service.
type Config struct {
	// Store is the database every change is written to.
	Store *sqlstore.DB
	// Webhooks builds the payloads of deliveries.
	Webhooks *webhook.Notifier
	// Dispatcher, when set, takes the deliveries to a destination it can
	// send to at once, claimed for its node as they are written, once their
	// change commits. Without one, deliveries are written for any node's
	// dispatcher to claim.
	Dispatcher Dispatcher
	// Clock tells the time; nil means herald.SystemClock.
	Clock herald.Clock
	// Logger receives warnings (rules that no longer compile); nil
	// discards them.
	Logger *slog.Logger
}

// Dispatcher is what the service needs of the node's dispatcher
// (*delivery.Dispatcher): it is given, already claimed, the deliveries the
// node's changes write.
type Dispatcher interface {
	// Node is the name the node claims deliveries under; Lease how long a
	// claim lasts.
	Node() string
	Lease() time.Duration
	// Defer says how long a new delivery should wait before its first
	// attempt because its destination is stalled (zero: send it now):
	// longer the longer the destination's requests have hung.
	Defer(d *herald.Delivery) time.Duration
	// Dispatch starts sending deliveries claimed for the node; it must not
	// block for long.
	Dispatch(ds []*herald.Delivery)
}

var _ Dispatcher = (*delivery.Dispatcher)(nil)

// Service makes the changes that cause webhooks; see herald.ChangeService.
type Service struct {
	store      *sqlstore.DB
	webhooks   *webhook.Notifier
	dispatcher Dispatcher
	clock      herald.Clock
	logger     *slog.Logger
}

var _ herald.ChangeService = (*Service)(nil)

// New returns a Service for cfg, which must have a Store and Webhooks.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Webhooks == nil {
		return nil, errors.New("service: Config.Store and Config.Webhooks are required")
	}
	s := &Service{store: cfg.Store, webhooks: cfg.Webhooks, dispatcher: cfg.Dispatcher, clock: cfg.Clock, logger: cfg.Logger}
	if s.clock == nil {
		s.clock = herald.SystemClock
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// outbox is the deliveries a change writes.
type outbox struct {
	// claimed are those this node claimed, handed to its dispatcher when
	// the change commits.
	claimed []*herald.Delivery
}

// inTx runs fn in one store transaction and, once it has committed, hands
// the deliveries fn claimed to the dispatcher.
func (s *Service) inTx(ctx context.Context, fn func(tx *sqlstore.Tx, out *outbox) error) error {
	var out outbox
	err := s.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		out = outbox{}
		return fn(tx, &out)
	})
	if err == nil && len(out.claimed) > 0 {
		s.dispatcher.Dispatch(out.claimed)
	}
	return err
}

// write writes deliveries in tx, due now. Those to a destination the
// dispatcher can take at once (Service Hook deliveries carry their hook's
// URL) are claimed by its node and recorded in out, to be handed over after
// commit; those to a destination that is stalled are written due later, as
// the dispatcher says, and the rest are left for any node to claim.
func (s *Service) write(ctx context.Context, tx *sqlstore.Tx, out *outbox, ds []*herald.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	now := s.clock.Now()
	for _, d := range ds {
		d.Status, d.UpdatedAt, d.NextAttemptAt = herald.DeliveryPending, d.CreatedAt, now
		if s.dispatcher == nil || d.URL == "" || !d.DestinationActive {
			continue
		}
		if wait := s.dispatcher.Defer(d); wait > 0 {
			d.NextAttemptAt = now.Add(wait)
			continue
		}
		d.ClaimedBy, d.NextAttemptAt = s.dispatcher.Node(), now.Add(s.dispatcher.Lease())
		out.claimed = append(out.claimed, d)
	}
	return tx.InsertDeliveries(ctx, ds)
}

// subscribed returns the installations whose app subscribes to one of
// resources.
func subscribed(installs []*herald.Installation, resources ...string) []*herald.Installation {
	var out []*herald.Installation
	for _, inst := range installs {
		for _, r := range resources {
			if inst.App.Subscribes(r) {
				out = append(out, inst)
				break
			}
		}
	}
	return out
}
