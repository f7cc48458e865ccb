package herald

import (
	"context"
	"time"
)

// Service Hook event names.
const (
	HookEventAlert   = "event.alert"
	HookEventCreated = "event.created"
)

// HookEvents are the events a Service Hook may subscribe to.
var HookEvents = []string{HookEventAlert, HookEventCreated}

// Hook statuses.
const (
	HookActive   = "active"
	HookDisabled = "disabled"
)

// Hook is a project-level Service Hook: a URL, the events it subscribes to
// and the secret its deliveries are signed with. A hook subscribed to no
// event is valid, as in Sentry, and is sent nothing.
type Hook struct {
	ID             string
	ProjectID      int64
	URL            string
	Events         []string
	Secret         string
	Status         string
	DisabledReason string
	// FailingSince is when the hook's current run of failed attempts began;
	// nil while its last attempt succeeded.
	FailingSince *time.Time
	DateCreated  time.Time
}

// Subscribes reports whether the hook is active and subscribed to event.
func (h *Hook) Subscribes(event string) bool {
	if h.Status != HookActive {
		return false
	}
	for _, e := range h.Events {
		if e == event {
			return true
		}
	}
	return false
}

// HookUpdate holds the fields an update may change; nil means unchanged.
// Setting Status to HookActive clears the disabled reason and failure run.
type HookUpdate struct {
	URL    *string
	Events *[]string
	Status *string
}

// HookFilter selects a project's hooks.
type HookFilter struct {
	ProjectID int64
	// Status selects the hooks with that status (HookActive or
	// HookDisabled); "" means all.
	Status string
	Page   Page
}

// HookStat is the number of deliveries a hook was sent in one time bucket.
type HookStat struct {
	TS    int64
	Total int64
}

// HookService manages Service Hooks.
type HookService interface {
	// CreateHook inserts h; the store sets ID, Secret (unless set), Status and
	// DateCreated.
	CreateHook(ctx context.Context, h *Hook) error
	// FindHookByID returns the project's hook or ENOTFOUND.
	FindHookByID(ctx context.Context, projectID int64, id string) (*Hook, error)
	// FindHooks lists the hooks f selects, ordered by creation.
	FindHooks(ctx context.Context, f HookFilter) ([]*Hook, string, error)
	// UpdateHook applies upd and returns the hook.
	UpdateHook(ctx context.Context, projectID int64, id string, upd HookUpdate) (*Hook, error)
	// DeleteHook removes the hook; its deliveries are no longer sent (but
	// for those in flight) and are deleted in the background.
	DeleteHook(ctx context.Context, projectID int64, id string) error
	// RotateHookSecret sets a new secret and returns the hook with it.
	RotateHookSecret(ctx context.Context, projectID int64, id string) (*Hook, error)
	// HookStats counts the hook's deliveries per bucket of resolution in
	// [since, until).
	HookStats(ctx context.Context, hookID string, since, until time.Time, resolution time.Duration) ([]HookStat, error)
}
