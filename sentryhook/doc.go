// Package sentryhook receives Sentry webhooks: Service Hook deliveries
// (event.created, event.alert) and Sentry App deliveries (issue, error,
// comment, installation, metric_alert and event_alert resources), as sent by
// Sentry and by Herald. It depends on nothing but the standard library.
//
// A receiver does four things, in this order:
//
//  1. Verify the signature over the raw body, in constant time (Verify,
//     VerifyHeader). The signature is the lowercase hex HMAC-SHA256 of the
//     body keyed with the secret. Sentry App deliveries carry it in
//     Sentry-Hook-Signature; Service Hook deliveries in
//     X-ServiceHook-Signature (Sentry's name) and X-Sentry-Hook-Signature
//     (the name Sentry's documentation uses; Herald sends both). Several
//     secrets may be given at once, so that a secret can be rotated without
//     rejecting deliveries signed with the old one.
//  2. Parse the body into a Delivery (Parse), with a typed payload for every
//     known resource.
//  3. Acknowledge at once with a 2xx and process asynchronously: senders
//     give up on slow receivers and retry.
//  4. Deduplicate: delivery is at-least-once, so the same delivery can
//     arrive more than once (Delivery.DedupeKey, Deduper).
//
// Handler does all four: it bounds the body, verifies, parses, deduplicates,
// answers at once and hands each delivery to a bounded pool of workers.
//
// # Events and payload types
//
// Delivery.Payload holds one of these, chosen by the delivery's resource:
//
//	event.created, event.alert            *ServiceHookPayload
//	issue.created, issue.resolved,
//	issue.ignored, issue.assigned,
//	issue.unresolved                      *IssuePayload
//	error.created                         *ErrorPayload
//	comment.created, comment.updated,
//	comment.deleted                       *CommentPayload
//	installation.created,
//	installation.deleted                  *InstallationPayload
//	metric_alert.open, .warning,
//	.critical, .resolved                  *MetricAlertPayload
//	event_alert.triggered                 *EventAlertPayload
//
// A delivery of a resource this package does not know parses without error,
// with a nil Payload; Delivery.Data always holds the raw payload.
//
// # Service Hooks
//
// A Service Hook body has no envelope and no header names its event. Its
// resource is "event", and its action is "alert" when triggering_rules lists
// at least one rule and "created" when it is empty or absent, which is how
// Sentry and Herald fill it. Sentry's own service hook task sends another
// shape ({"project": {...}, "group": {...}, "event": {...}}); it parses too,
// with what ServiceHookPayload can hold, and Data keeps the rest.
//
// # Timestamps
//
// Timestamps inside payloads are kept as the strings the sender wrote
// (Sentry writes RFC 3339 with microseconds, such as
// "2024-01-15T12:00:00.000000Z", and sometimes "+00:00" offsets); ParseTime
// reads every form Sentry uses.
package sentryhook
