package herald

import (
	"context"
	"time"
)

// Resources of Sentry App webhooks, sent in Sentry-Hook-Resource: what an
// app subscribes to, or what it always gets (installation), or gets when a
// rule sends it (event_alert, metric_alert).
const (
	ResourceIssue        = "issue"
	ResourceError        = "error"
	ResourceComment      = "comment"
	ResourceInstallation = "installation"
	ResourceEventAlert   = "event_alert"
	ResourceMetricAlert  = "metric_alert"
)

// Destination kinds: who a delivery goes to.
const (
	DestinationHook = "service_hook"
	DestinationApp  = "sentry_app"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one webhook message to one destination. Its body, signature,
// timestamp and id are fixed when it is created and sent identically on
// every attempt.
type Delivery struct {
	ID string
	// DestinationKind and DestinationID name the Service Hook (hook id) or
	// the Sentry App installation (uuid) the delivery goes to.
	DestinationKind string
	DestinationID   string
	ProjectID       int64
	OrganizationID  int64
	// Event is the webhook event name, such as "event.created".
	Event string
	// Resource is the Sentry-Hook-Resource value for app deliveries.
	Resource  string
	Body      []byte
	Signature string
	// Timestamp is the unix second sent in the timestamp header.
	Timestamp     int64
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastStatus    int
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time

	// ClaimedBy is the node that claimed the delivery as it was written,
	// until NextAttemptAt, to send it at once; "" for a delivery any node
	// may claim when it is due.
	ClaimedBy string

	// URL is the destination's current URL and DestinationActive whether it
	// may be sent to; both set on deliveries to send (ClaimDeliveries, and
	// the webhook builders for the Service Hook and Sentry App deliveries
	// of events, issues and comments).
	URL               string
	DestinationActive bool
	// AppHeaders are the webhook headers of the destination Sentry App,
	// sent with Herald's own; set with URL on app deliveries to send.
	AppHeaders []WebhookHeader
}

// Attempt is one HTTP try of a delivery.
type Attempt struct {
	ID         int64
	DeliveryID string
	Number     int
	URL        string
	// StatusCode is 0 when no response arrived (see Error).
	StatusCode   int
	Duration     time.Duration
	ResponseBody string
	Error        string
	// HookErrorID and HookProjectID are the Sentry-Hook-Error and
	// Sentry-Hook-Project headers of the answer, "" when absent: a
	// receiver that reports its own failure to Sentry names the error's
	// event id and project so, and Sentry's request log shows them.
	HookErrorID   string
	HookProjectID string
	CreatedAt     time.Time
}

// Outcome is what happened to a delivery the sender took on.
type Outcome struct {
	DeliveryID string
	// Attempt is the try that was made, or nil when none was (the
	// destination was busy, inactive or gone).
	Attempt *Attempt
	// Delivered is set when the attempt got a 2xx.
	Delivered bool
	// NextAttemptAt is when to try again; zero means never (the delivery
	// is failed), unless Delivered.
	NextAttemptAt time.Time
}

// DeliveryFilter selects deliveries of one destination.
type DeliveryFilter struct {
	DestinationKind string
	DestinationID   string
	Status          string
	Page            Page
}

// DeliveryService reads and completes deliveries.
type DeliveryService interface {
	// ClaimDeliveries claims for node up to limit pending deliveries that
	// are due (NextAttemptAt not after now), the longest due first, and
	// returns them with their destination's URL and state. A claimed
	// delivery is not due again until until: a node that dies holding it
	// leaves it to the others then. Concurrent claims never return the
	// same delivery.
	ClaimDeliveries(ctx context.Context, node string, limit int, until time.Time) ([]*Delivery, error)
	// ReleaseDeliveries makes the pending deliveries claimed by node due
	// now, as a node restarting after a crash does with its own claims,
	// and returns how many there were.
	ReleaseDeliveries(ctx context.Context, node string) (int, error)
	// CompleteDeliveries records a batch of outcomes in one transaction:
	// attempts are inserted, deliveries marked delivered, failed or pending
	// (and then unclaimed, due at the outcome's NextAttemptAt), and
	// destinations that have failed for too long disabled.
	CompleteDeliveries(ctx context.Context, outcomes []*Outcome) error
	// FindDeliveries lists a destination's deliveries, newest first.
	FindDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, string, error)
	// FindDeliveryByID returns the delivery or ENOTFOUND.
	FindDeliveryByID(ctx context.Context, id string) (*Delivery, error)
	// FindAttempts lists a delivery's attempts, oldest first.
	FindAttempts(ctx context.Context, deliveryID string) ([]*Attempt, error)
	// Redeliver queues the delivery for another attempt now, whatever its
	// status, with the same body, signature and id. A pending delivery
	// whose attempt is under way keeps that attempt.
	Redeliver(ctx context.Context, id string) (*Delivery, error)
	// RecoverDeliveries queues every failed delivery of a destination
	// created since the given time and returns how many.
	RecoverDeliveries(ctx context.Context, kind, destinationID string, since time.Time) (int, error)
}

// Store is everything Herald keeps, in one database.
type Store interface {
	AuthService
	OrganizationService
	ProjectService
	HookService
	EventService
	IssueService
	CommentService
	AppService
	RuleService
	MetricAlertService
	PeopleService
	DeliveryService
	// Ping checks that the database answers and its migrations are applied.
	Ping(ctx context.Context) error
	Close() error
}
