package webhook

import (
	"cmp"
	"fmt"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/jsontext"
)

// Actor types.
const (
	ActorUser        = "user"
	ActorApplication = "application"
)

// Actor is who caused a Sentry App event: a user, an app acting with its own
// token, or Herald itself (SentryActor).
type Actor struct {
	Type string `json:"type"`
	// ID is the user id (a number) for users, and the app uuid or "sentry"
	// (strings) for applications.
	ID   any    `json:"id"`
	Name string `json:"name"`
}

// SentryActor is the actor of what Herald does by itself: new issues, new
// errors, alerts, regressions.
var SentryActor = Actor{Type: ActorApplication, ID: "sentry", Name: "Sentry"}

// UserActor returns the actor of a change a user made. The name falls back to
// the user's email when the user has no name.
func UserActor(u *herald.User) Actor {
	return Actor{Type: ActorUser, ID: u.ID, Name: firstNonEmpty(u.Name, u.Email)}
}

// AppActor returns the actor of a change an app made with its own token.
func AppActor(appUUID, appName string) Actor {
	return Actor{Type: ActorApplication, ID: appUUID, Name: appName}
}

// appEnvelope is the body of every Sentry App delivery, keys in the order
// Sentry sends them.
type appEnvelope struct {
	Action       string          `json:"action"`
	Installation appInstallation `json:"installation"`
	Data         any             `json:"data"`
	Actor        Actor           `json:"actor"`
}

// appInstallation is the "installation" object of an app envelope.
type appInstallation struct {
	UUID string `json:"uuid"`
}

// AppBody returns the compact JSON body of a Sentry App delivery:
// {"action","installation":{"uuid"},"data","actor"}. action is the part of the
// event name after the dot (see Action); data is encoded with encoding/json,
// nil as an empty object. It fails only when data cannot be encoded.
func AppBody(action, installationUUID string, data any, actor Actor) ([]byte, error) {
	if data == nil {
		data = struct{}{}
	}
	b, err := encode(appEnvelope{
		Action:       action,
		Installation: appInstallation{UUID: installationUUID},
		Data:         data,
		Actor:        actor,
	})
	if err != nil {
		return nil, fmt.Errorf("encode %s app body: %w", action, err)
	}
	return b, nil
}

// ActorOf returns the webhook actor of a change: the app when an app's own
// token made it, else the user, else Herald itself (SentryActor).
func ActorOf(a herald.Actor) Actor {
	switch {
	case a.App != nil:
		return AppActor(a.App.UUID, a.App.Name)
	case a.User != nil:
		return UserActor(a.User)
	}
	return SentryActor
}

// AppPayload is the body of one Sentry App event for any number of
// installations: the data and actor are encoded once, and each
// installation's body is spliced around them.
type AppPayload struct {
	prefix []byte // {"action":"...","installation":{"uuid":
	suffix []byte // },"data":<data>,"actor":<actor>}
}

// NewAppPayload prepares the body of event (such as "issue.created") with
// data, compact JSON such as IssueData returns, and actor. Body(uuid) then
// equals AppBody(Action(event), uuid, data, actor).
func NewAppPayload(event string, data []byte, actor Actor) *AppPayload {
	if len(data) == 0 {
		data = []byte("{}")
	}
	act := mustEncode(actor)
	p := &AppPayload{}
	p.prefix = append(p.prefix, `{"action":`...)
	p.prefix = jsontext.AppendString(p.prefix, Action(event))
	p.prefix = append(p.prefix, `,"installation":{"uuid":`...)
	p.suffix = make([]byte, 0, len(data)+len(act)+20)
	p.suffix = append(p.suffix, `},"data":`...)
	p.suffix = append(p.suffix, data...)
	p.suffix = append(p.suffix, `,"actor":`...)
	p.suffix = append(p.suffix, act...)
	p.suffix = append(p.suffix, '}')
	return p
}

// Body returns the compact JSON body for one installation.
func (p *AppPayload) Body(installationUUID string) []byte {
	b := make([]byte, 0, len(p.prefix)+len(installationUUID)+len(p.suffix)+2)
	b = append(b, p.prefix...)
	b = jsontext.AppendString(b, installationUUID)
	return append(b, p.suffix...)
}

// commentData is the data of comment.* events.
type commentData struct {
	CommentID   int64  `json:"comment_id"`
	IssueID     int64  `json:"issue_id"`
	ProjectSlug string `json:"project_slug"`
	Timestamp   string `json:"timestamp"`
	Comment     string `json:"comment"`
}

// CommentData returns the compact JSON "data" of a comment.* event about
// comment c on an issue of project p. The timestamp is the comment's
// creation time for every action, as Sentry sends it; the text is the
// comment's current (for comment.deleted, last) text.
func CommentData(p *herald.Project, c *herald.Comment) []byte {
	return mustEncode(commentData{
		CommentID:   c.ID,
		IssueID:     c.IssueID,
		ProjectSlug: p.Slug,
		Timestamp:   herald.FormatTime(c.DateCreated),
		Comment:     c.Text,
	})
}

// installationData is the data of installation.* events.
type installationData struct {
	Installation installationPayload `json:"installation"`
}

// installationPayload is Sentry's installation serializer in webhooks, keys
// in its order.
type installationPayload struct {
	App          installationApp `json:"app"`
	Organization installationOrg `json:"organization"`
	UUID         string          `json:"uuid"`
	Status       string          `json:"status"`
	Code         string          `json:"code,omitempty"`
}

// installationApp is the "app" object of installationPayload.
type installationApp struct {
	UUID string `json:"uuid"`
	Slug string `json:"slug"`
}

// installationOrg is the "organization" object of installationPayload; the
// id is a number, as Sentry sends it.
type installationOrg struct {
	Slug string `json:"slug"`
	ID   int64  `json:"id"`
}

// InstallationData returns the compact JSON "data" of an installation.*
// event about inst, which must carry its App and Organization. The grant
// code is included whenever the installation has one, as Sentry's
// serializer does for webhooks: inst.Code is set while the grant is unused
// and unexpired (it is cleared once the app exchanges it), so a pending
// installation sends it on installation.created and on
// installation.deleted alike, and an installed one sends none.
func InstallationData(inst *herald.Installation) []byte {
	d := installationPayload{
		App:          installationApp{UUID: inst.App.UUID, Slug: inst.App.Slug},
		Organization: installationOrg{Slug: inst.Organization.Slug, ID: cmp.Or(inst.Organization.ID, inst.OrganizationID)},
		UUID:         inst.UUID,
		Status:       inst.Status,
		Code:         inst.Code,
	}
	return mustEncode(installationData{Installation: d})
}
