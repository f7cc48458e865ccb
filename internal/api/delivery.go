package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/herald-dev/herald"
)

// deliveryJSON is a delivery in Herald's delivery routes. RequestID is the
// Request-ID header every attempt carries: the delivery id.
type deliveryJSON struct {
	ID             string  `json:"id"`
	Event          string  `json:"event"`
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	NextAttemptAt  *string `json:"nextAttemptAt"`
	LastStatusCode *int    `json:"lastStatusCode"`
	LastError      *string `json:"lastError"`
	DateCreated    string  `json:"dateCreated"`
	RequestID      string  `json:"requestId"`
}

// deliveryDetailJSON adds the body that is sent and the log of attempts.
type deliveryDetailJSON struct {
	*deliveryJSON
	Payload     json.RawMessage `json:"payload"`
	AttemptsLog []*attemptJSON  `json:"attemptsLog"`
}

// attemptJSON is one HTTP try of a delivery.
type attemptJSON struct {
	Number       int     `json:"number"`
	URL          string  `json:"url"`
	StatusCode   *int    `json:"statusCode"`
	DurationMs   int64   `json:"durationMs"`
	ResponseBody *string `json:"responseBody"`
	Error        *string `json:"error"`
	DateCreated  string  `json:"dateCreated"`
}

func newDeliveryJSON(d *herald.Delivery) *deliveryJSON {
	out := &deliveryJSON{
		ID:          d.ID,
		Event:       d.Event,
		Status:      d.Status,
		Attempts:    d.Attempts,
		LastError:   nullString(d.LastError),
		DateCreated: herald.FormatTime(d.CreatedAt),
		RequestID:   d.ID,
	}
	if d.Status == herald.DeliveryPending && !d.NextAttemptAt.IsZero() {
		out.NextAttemptAt = nullString(herald.FormatTime(d.NextAttemptAt))
	}
	if d.LastStatus != 0 {
		code := d.LastStatus
		out.LastStatusCode = &code
	}
	return out
}

func newAttemptJSON(at *herald.Attempt) *attemptJSON {
	out := &attemptJSON{
		Number:       at.Number,
		URL:          at.URL,
		DurationMs:   at.Duration.Milliseconds(),
		ResponseBody: nullString(at.ResponseBody),
		Error:        nullString(at.Error),
		DateCreated:  herald.FormatTime(at.CreatedAt),
	}
	if at.StatusCode != 0 {
		code := at.StatusCode
		out.StatusCode = &code
	}
	return out
}

// payloadJSON embeds a delivery body as JSON, or as a JSON string in the
// unexpected case that it is not JSON.
func payloadJSON(body []byte) json.RawMessage {
	if json.Valid(body) {
		return body
	}
	b, _ := json.Marshal(string(body))
	return b
}

// handleListDeliveries answers Herald's
// GET /api/0/projects/{org}/{project}/hooks/{hook_id}/deliveries/: the
// hook's deliveries, newest first, paginated, optionally filtered by
// ?status=pending|delivered|failed.
func (s *Server) handleListDeliveries(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, h, err := s.hook(r, a)
	if err != nil {
		return err
	}
	page, err := pageFromRequest(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "", herald.DeliveryPending, herald.DeliveryDelivered, herald.DeliveryFailed:
	default:
		return herald.InvalidField("status", "Invalid status: "+status)
	}
	deliveries, next, err := s.store.FindDeliveries(r.Context(), herald.DeliveryFilter{
		DestinationKind: herald.DestinationHook,
		DestinationID:   h.ID,
		Status:          status,
		Page:            page,
	})
	if err != nil {
		return err
	}
	out := make([]*deliveryJSON, 0, len(deliveries))
	for _, d := range deliveries {
		out = append(out, newDeliveryJSON(d))
	}
	s.setLinkHeader(w, r, next)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// delivery loads the delivery named by the {delivery_id} path value, which
// must belong to the hook of the route.
func (s *Server) delivery(r *http.Request, a *auth) (*herald.Delivery, error) {
	_, h, err := s.hook(r, a)
	if err != nil {
		return nil, err
	}
	id := r.PathValue("delivery_id")
	if !herald.ValidID(id) {
		return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	d, err := s.store.FindDeliveryByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if d.DestinationKind != herald.DestinationHook || d.DestinationID != h.ID {
		return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	return d, nil
}

// handleGetDelivery answers Herald's
// GET /api/0/projects/{org}/{project}/hooks/{hook_id}/deliveries/{delivery_id}/
// with the delivery, its payload and its attempts, oldest first.
func (s *Server) handleGetDelivery(w http.ResponseWriter, r *http.Request, a *auth) error {
	d, err := s.delivery(r, a)
	if err != nil {
		return err
	}
	attempts, err := s.store.FindAttempts(r.Context(), d.ID)
	if err != nil {
		return err
	}
	out := &deliveryDetailJSON{
		deliveryJSON: newDeliveryJSON(d),
		Payload:      payloadJSON(d.Body),
		AttemptsLog:  make([]*attemptJSON, 0, len(attempts)),
	}
	for _, at := range attempts {
		out.AttemptsLog = append(out.AttemptsLog, newAttemptJSON(at))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleRedeliver answers Herald's
// POST /api/0/projects/{org}/{project}/hooks/{hook_id}/deliveries/{delivery_id}/redeliver/:
// the delivery is queued for another attempt now, with the same body,
// signature and id, and the answer is 202 with the delivery.
func (s *Server) handleRedeliver(w http.ResponseWriter, r *http.Request, a *auth) error {
	d, err := s.delivery(r, a)
	if err != nil {
		return err
	}
	d, err = s.store.Redeliver(r.Context(), d.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, newDeliveryJSON(d))
	return nil
}

// handleRecoverDeliveries answers Herald's
// POST /api/0/projects/{org}/{project}/hooks/{hook_id}/deliveries/recover/
// {"since": RFC 3339}: every failed delivery of the hook created since then
// is queued again; the answer is {"recovered": n}.
func (s *Server) handleRecoverDeliveries(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, h, err := s.hook(r, a)
	if err != nil {
		return err
	}
	var in struct {
		Since *string `json:"since"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Since == nil {
		return herald.InvalidField("since", herald.MsgRequired)
	}
	since, err := time.Parse(time.RFC3339Nano, *in.Since)
	if err != nil {
		return herald.InvalidField("since", "Datetime has wrong format. Use RFC 3339, such as 2024-01-15T12:00:00Z.")
	}
	n, err := s.store.RecoverDeliveries(r.Context(), herald.DestinationHook, h.ID, since)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"recovered": n})
	return nil
}
