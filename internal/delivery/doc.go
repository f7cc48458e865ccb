// Package delivery sends Herald's webhooks. It holds the outbound HTTP
// sender, whose dialer refuses non-public addresses (Guard) at connect time;
// the retry policy; and the Dispatcher, a node's delivery engine, which
// takes the deliveries the node's transactions claim as they commit and
// claims due ones from the database, sends them concurrently with a
// per-destination limit so that a slow destination never delays the others,
// and records their outcomes in batches.
//
// Every attempt of a delivery sends the identical body, signature, timestamp
// and Request-ID, fixed when the delivery was created. Success is a 2xx
// within the timeout; redirects are not followed and count as failures. A
// 4xx answer other than 408, 425 and 429 is final, as in Sentry: the
// delivery fails after that attempt. Every other failure (a 5xx, 408, 425,
// 429, a redirect, a timeout, a connection error) is retried on the
// schedule.
package delivery
