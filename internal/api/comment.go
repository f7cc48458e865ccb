package api

import (
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/herald-dev/herald"
)

// maxCommentLength bounds a comment, in characters.
const maxCommentLength = 10000

// commentJSON is Sentry's activity serializer for a note.
type commentJSON struct {
	ID          string            `json:"id"`
	User        *userJSON         `json:"user"`
	Type        string            `json:"type"`
	Data        commentDataJSON   `json:"data"`
	DateCreated string            `json:"dateCreated"`
	SentryApp   *sentryAppRefJSON `json:"sentry_app"`
}

type commentDataJSON struct {
	Text string `json:"text"`
}

// sentryAppRefJSON names the app that wrote a comment with its own token.
type sentryAppRefJSON struct {
	UUID string `json:"uuid"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

func newCommentJSON(c *herald.Comment, app *herald.SentryApp) *commentJSON {
	out := &commentJSON{
		ID:          strconv.FormatInt(c.ID, 10),
		Type:        "note",
		Data:        commentDataJSON{Text: c.Text},
		DateCreated: herald.FormatTime(c.DateCreated),
	}
	if c.User != nil {
		out.User = newUserJSON(c.User)
	}
	if app != nil {
		out.SentryApp = &sentryAppRefJSON{UUID: app.UUID, Slug: app.Slug, Name: app.Name}
	}
	return out
}

// commentText reads and checks the {"text"} body of a comment request.
func commentText(w http.ResponseWriter, r *http.Request) (string, error) {
	var in struct {
		Text *string `json:"text"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return "", err
	}
	switch {
	case in.Text == nil:
		return "", herald.InvalidField("text", herald.MsgRequired)
	case *in.Text == "":
		return "", herald.InvalidField("text", herald.MsgBlank)
	case utf8.RuneCountInString(*in.Text) > maxCommentLength:
		return "", herald.InvalidField("text", "Ensure this field has no more than 10000 characters.")
	}
	return *in.Text, nil
}

// handleListComments answers GET /api/0/organizations/{org}/issues/{issue_id}/comments/,
// newest first.
func (s *Server) handleListComments(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, is, err := s.issue(r, a)
	if err != nil {
		return err
	}
	comments, err := s.store.FindComments(r.Context(), is.ID)
	if err != nil {
		return err
	}
	out := make([]*commentJSON, 0, len(comments))
	for _, c := range comments {
		out = append(out, newCommentJSON(c, nil))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateComment answers POST /api/0/organizations/{org}/issues/{issue_id}/comments/
// {"text"} with 201 and the comment; it fires comment.created.
func (s *Server) handleCreateComment(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, is, err := s.issue(r, a)
	if err != nil {
		return err
	}
	text, err := commentText(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	actor, err := s.actor(ctx, a)
	if err != nil {
		return err
	}
	c := &herald.Comment{IssueID: is.ID, UserID: a.userID(), Text: text}
	if err := s.changes.CreateComment(ctx, c, actor); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newCommentJSON(c, actor.App))
	return nil
}

// pathID reads a numeric path value such as {comment_id}; anything else
// names no resource, so it is a 404.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	return id, nil
}

// handleUpdateComment answers PUT .../comments/{comment_id}/ {"text"}: the
// author edits their comment, which fires comment.updated.
func (s *Server) handleUpdateComment(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, is, err := s.issue(r, a)
	if err != nil {
		return err
	}
	id, err := pathID(r, "comment_id")
	if err != nil {
		return err
	}
	text, err := commentText(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	actor, err := s.actor(ctx, a)
	if err != nil {
		return err
	}
	c, err := s.changes.UpdateComment(ctx, is.ID, id, a.userID(), text, actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newCommentJSON(c, actor.App))
	return nil
}

// handleDeleteComment answers DELETE .../comments/{comment_id}/ with 204:
// the author deletes their comment, which fires comment.deleted.
func (s *Server) handleDeleteComment(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, is, err := s.issue(r, a)
	if err != nil {
		return err
	}
	id, err := pathID(r, "comment_id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	actor, err := s.actor(ctx, a)
	if err != nil {
		return err
	}
	if err := s.changes.DeleteComment(ctx, is.ID, id, a.userID(), actor); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
