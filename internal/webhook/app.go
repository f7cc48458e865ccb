package webhook

import (
	"fmt"

	"github.com/herald-dev/herald"
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
