package herald

import (
	"context"
	"time"
)

// ChangeService makes the changes that cause webhooks. Each method writes
// its change together with the deliveries it causes, in one transaction (a
// transactional outbox), and hands the deliveries to the dispatcher once
// that transaction has committed.
type ChangeService interface {
	// SaveEvents writes a batch of events in one transaction: each event's
	// issue is created, regressed or counted (IssueID is set), issue alert
	// rules are evaluated and metric alert counters advanced, and the
	// deliveries all of that causes are written. Events of unknown projects
	// and events whose id their project already has are skipped.
	SaveEvents(ctx context.Context, events []*Event) error
	// UpdateIssues applies upd to the selected issues and returns them
	// changed; each status change and assignment sends its issue.* webhook.
	UpdateIssues(ctx context.Context, sel IssueSelection, upd IssueUpdate, actor Actor) ([]*Issue, error)
	// CreateComment inserts c by c.UserID on c.IssueID (comment.created).
	CreateComment(ctx context.Context, c *Comment, actor Actor) error
	// UpdateComment sets the text of one of the user's comments
	// (comment.updated).
	UpdateComment(ctx context.Context, issueID, id, userID int64, text string, actor Actor) (*Comment, error)
	// DeleteComment removes one of the user's comments (comment.deleted).
	DeleteComment(ctx context.Context, issueID, id, userID int64, actor Actor) error
	// CreateInstallation installs inst.AppID on inst.OrganizationID: pending
	// with a grant code (installed at once when the app does not verify
	// installs), with installation.created. When the app is already
	// installed there, it returns that installation and created is false.
	CreateInstallation(ctx context.Context, inst *Installation, actor Actor) (created bool, err error)
	// DeleteInstallation uninstalls: installation.deleted is sent, the
	// installation's tokens are revoked and it is marked deleted.
	DeleteInstallation(ctx context.Context, uuid string, actor Actor) error
	// EvaluateMetricAlerts evaluates every metric alert rule at now,
	// opening, changing and closing incidents with their metric_alert.*
	// webhooks.
	EvaluateMetricAlerts(ctx context.Context, now time.Time) error

	// CheckAlertRule validates an issue alert rule of project p before it
	// is saved (its settings, defaults filled, and its Sentry App actions'
	// installations live on p's organization).
	CheckAlertRule(ctx context.Context, p *Project, rule *AlertRule) error
	// CheckMetricAlertRule validates a metric alert rule of org before it
	// is saved: the projects rule.Projects names by slug must be org's (it
	// sets rule.ProjectIDs), each action's app installed on org, every
	// setting valid.
	CheckMetricAlertRule(ctx context.Context, org *Organization, rule *MetricAlertRule) error
	// SendTestEvent writes one delivery of a sample event to a project's
	// active Service Hook, built and signed as a real one (event.created,
	// or event.alert for a hook subscribed to alerts only), and returns it.
	// A disabled hook is refused (EINVALID).
	SendTestEvent(ctx context.Context, projectID int64, hookID string) (*Delivery, error)
}
