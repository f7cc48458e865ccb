// Package metrics exposes Herald's Prometheus metrics at GET /metrics:
// events accepted at ingest, delivery attempts and their outcomes, the
// delivery engine's load, HTTP requests by status, and the Go runtime and
// process collectors.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herald-dev/herald"
)

// Metrics holds a registry and Herald's collectors in it.
type Metrics struct {
	registry *prometheus.Registry

	eventsAccepted prometheus.Counter
	commitSeconds  prometheus.Histogram
	commitEvents   prometheus.Histogram
	itemsDropped   *prometheus.CounterVec
	outcomes       *prometheus.CounterVec
	attemptSeconds prometheus.Histogram
	requests       *prometheus.CounterVec
}

// Outcome results, the values of the result label of
// herald_delivery_outcomes_total.
const (
	ResultDelivered = "delivered"
	ResultRetrying  = "retrying"
	ResultFailed    = "failed"
	ResultPutOff    = "put_off"
)

// New returns Metrics on a fresh registry, with the Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		eventsAccepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_ingest_events_total",
			Help: "Events accepted at ingest (committed with their deliveries).",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_ingest_commit_duration_seconds",
			Help:    "Duration of ingest commits: the transactions that store the events of concurrent requests together, with their deliveries.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		commitEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_ingest_commit_events",
			Help:    "Events per ingest commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		itemsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_ingest_items_dropped_total",
			Help: "Envelope items accepted at ingest and dropped because Herald keeps events only, by item type (check_in, transaction, session, attachment, client_report, ..., other).",
		}, []string{"type"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_delivery_outcomes_total",
			Help: "Recorded delivery outcomes by result: delivered, retrying (an attempt failed, another is scheduled), failed (no attempt left, or the destination is gone), put_off (no attempt made: the destination was stalled or the node busy).",
		}, []string{"result"}),
		attemptSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_delivery_attempt_duration_seconds",
			Help:    "Duration of delivery attempts, from dial to the end of the response.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_http_requests_total",
			Help: "HTTP requests served, by method and status code.",
		}, []string{"method", "code"}),
	}
	for _, r := range []string{ResultDelivered, ResultRetrying, ResultFailed, ResultPutOff} {
		m.outcomes.WithLabelValues(r)
	}
	m.itemsDropped.WithLabelValues("check_in")
	m.registry.MustRegister(m.eventsAccepted, m.commitSeconds, m.commitEvents, m.itemsDropped, m.outcomes, m.attemptSeconds, m.requests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// EventsAccepted counts n events accepted at ingest.
func (m *Metrics) EventsAccepted(n int) { m.eventsAccepted.Add(float64(n)) }

// IngestCommitted observes an ingest commit of events that took took,
// whether it succeeded or not.
func (m *Metrics) IngestCommitted(events int, took time.Duration) {
	m.commitSeconds.Observe(took.Seconds())
	m.commitEvents.Observe(float64(events))
}

// ItemsDropped counts n envelope items of a type dropped at ingest.
func (m *Metrics) ItemsDropped(itemType string, n int) {
	m.itemsDropped.WithLabelValues(itemType).Add(float64(n))
}

// OutcomesRecorded counts recorded delivery outcomes and their attempts'
// durations.
func (m *Metrics) OutcomesRecorded(outcomes []*herald.Outcome) {
	for _, o := range outcomes {
		m.outcomes.WithLabelValues(Result(o)).Inc()
		if o.Attempt != nil {
			m.attemptSeconds.Observe(o.Attempt.Duration.Seconds())
		}
	}
}

// Result names what an outcome did to its delivery.
func Result(o *herald.Outcome) string {
	switch {
	case o.Delivered:
		return ResultDelivered
	case o.NextAttemptAt.IsZero():
		return ResultFailed
	case o.Attempt == nil:
		return ResultPutOff
	default:
		return ResultRetrying
	}
}

// Gauge registers a gauge named name whose value f reports when scraped.
func (m *Metrics) Gauge(name, help string, f func() float64) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Instrument counts the requests h serves by method and status code.
func (m *Metrics) Instrument(h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerCounter(m.requests, h)
}

// Backlog is what the database says about the deliveries waiting, read
// when /metrics is scraped.
type Backlog struct {
	// Pending deliveries, the earliest time one of them was due and the
	// earliest time one was written (zero when none is pending), and the
	// Service Hooks disabled.
	Pending       int64
	OldestDue     time.Time
	OldestCreated time.Time
	DisabledHooks int64
}

// backlogTimeout bounds the database read of one scrape.
const backlogTimeout = 5 * time.Second

// backlogCollector reports a Backlog read at each scrape.
type backlogCollector struct {
	read                         func(context.Context) (Backlog, error)
	now                          func() time.Time
	pending, overdue, age, hooks *prometheus.Desc
}

// WatchBacklog registers herald_deliveries_pending,
// herald_deliveries_overdue_seconds (how long the most overdue pending
// delivery has been due, 0 when none is), herald_deliveries_oldest_age_seconds
// (how long ago the oldest pending delivery was written, 0 when none is)
// and herald_hooks_disabled, read
// with read at each scrape (bounded to 5 s) and timed with now. A failed
// read reports none of them, so that an alert on their absence tells.
// Every node reports the same figures: they are the database's.
func (m *Metrics) WatchBacklog(read func(context.Context) (Backlog, error), now func() time.Time) {
	m.registry.MustRegister(&backlogCollector{read: read, now: now,
		pending: prometheus.NewDesc("herald_deliveries_pending", "Deliveries waiting to be sent or retried, on every node.", nil, nil),
		overdue: prometheus.NewDesc("herald_deliveries_overdue_seconds",
			"How long the most overdue pending delivery has been due; 0 when none is pending.", nil, nil),
		age: prometheus.NewDesc("herald_deliveries_oldest_age_seconds",
			"How long ago the oldest pending delivery was written; 0 when none is pending.", nil, nil),
		hooks: prometheus.NewDesc("herald_hooks_disabled", "Service Hooks disabled, after failing or by a user.", nil, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.overdue
	ch <- c.age
	ch <- c.hooks
}

// Collect implements prometheus.Collector.
func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	b, err := c.read(ctx)
	if err != nil {
		return
	}
	now := c.now()
	since := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return max(0, now.Sub(t).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(b.Pending))
	ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, since(b.OldestDue))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, since(b.OldestCreated))
	ch <- prometheus.MustNewConstMetric(c.hooks, prometheus.GaugeValue, float64(b.DisabledHooks))
}
