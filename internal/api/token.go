package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/buildinfo"
)

// userJSON is Sentry's user serializer.
type userJSON struct {
	ID              string      `json:"id"`
	Name            string      `json:"name"`
	Username        string      `json:"username"`
	Email           string      `json:"email"`
	AvatarURL       *string     `json:"avatarUrl"`
	IsActive        bool        `json:"isActive"`
	HasPasswordAuth bool        `json:"hasPasswordAuth"`
	IsManaged       bool        `json:"isManaged"`
	DateJoined      string      `json:"dateJoined"`
	LastLogin       *string     `json:"lastLogin"`
	Has2FA          bool        `json:"has2fa"`
	LastActive      *string     `json:"lastActive"`
	IsSuperuser     bool        `json:"isSuperuser"`
	IsStaff         bool        `json:"isStaff"`
	Experiments     struct{}    `json:"experiments"`
	Emails          []emailJSON `json:"emails"`
	Avatar          avatarJSON  `json:"avatar"`
}

type emailJSON struct {
	ID         string `json:"id"`
	Email      string `json:"email"`
	IsVerified bool   `json:"is_verified"`
}

// avatarJSON is the avatar of users, organizations and teams: Herald only
// has Sentry's letter avatars.
type avatarJSON struct {
	AvatarType string  `json:"avatarType"`
	AvatarUUID *string `json:"avatarUuid"`
}

var letterAvatar = avatarJSON{AvatarType: "letter_avatar"}

func newUserJSON(u *herald.User) *userJSON {
	id := strconv.FormatInt(u.ID, 10)
	return &userJSON{
		ID:          id,
		Name:        u.Name,
		Username:    u.Email,
		Email:       u.Email,
		IsActive:    true,
		DateJoined:  herald.FormatTime(u.DateJoined),
		IsSuperuser: u.IsSuperuser,
		Emails:      []emailJSON{{ID: id, Email: u.Email, IsVerified: true}},
		Avatar:      letterAvatar,
	}
}

// indexJSON is the body of GET /api/0/: Sentry's version of the API, auth
// and user, and Herald's own build (what `herald version --json` prints).
type indexJSON struct {
	Version string         `json:"version"`
	Auth    *authJSON      `json:"auth"`
	User    *userJSON      `json:"user"`
	Herald  buildinfo.Info `json:"herald"`
}

type authJSON struct {
	Scopes []string `json:"scopes"`
}

// handleIndex answers GET /api/0/ with the caller's user and scopes (what
// `sentry-cli info` prints), or nulls without a token.
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	body := indexJSON{Version: "0", Herald: buildinfo.Read()}
	if _, ok := bearerToken(r); ok {
		tok, err := s.authenticate(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		body.Auth = &authJSON{Scopes: nonNil(tok.Scopes)}
		if tok.User != nil {
			body.User = newUserJSON(tok.User)
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// tokenJSON is Sentry's API token serializer. Token is set only in the answer
// to the request that created it.
type tokenJSON struct {
	ID                  string   `json:"id"`
	Name                *string  `json:"name"`
	Scopes              []string `json:"scopes"`
	Application         any      `json:"application"`
	ExpiresAt           *string  `json:"expiresAt"`
	DateCreated         string   `json:"dateCreated"`
	State               any      `json:"state"`
	TokenLastCharacters *string  `json:"tokenLastCharacters"`
	Token               string   `json:"token,omitempty"`
	RefreshToken        *string  `json:"refreshToken,omitempty"`
}

func newTokenJSON(t *herald.Token) *tokenJSON {
	out := &tokenJSON{
		ID:          strconv.FormatInt(t.ID, 10),
		Name:        nullString(t.Name),
		Scopes:      nonNil(t.Scopes),
		DateCreated: herald.FormatTime(t.DateCreated),
	}
	if t.ExpiresAt != nil {
		out.ExpiresAt = nullString(herald.FormatTime(*t.ExpiresAt))
	}
	if t.LastChars != "" {
		out.TokenLastCharacters = nullString(t.LastChars)
	}
	return out
}

// handleListTokens answers GET /api/0/api-tokens/: the caller's user's
// tokens, without their values.
func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request, a *auth) error {
	tokens, err := s.store.FindTokens(r.Context(), a.userID())
	if err != nil {
		return err
	}
	out := make([]*tokenJSON, 0, len(tokens))
	for _, t := range tokens {
		t.Value = ""
		out = append(out, newTokenJSON(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateToken answers POST /api/0/api-tokens/ {"scopes": [...],
// "name"?} with 201 and the new token, whose value is shown only here. A
// token cannot grant more than the token that creates it.
func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request, a *auth) error {
	var in struct {
		Name   *string   `json:"name"`
		Scopes *[]string `json:"scopes"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	fe := herald.FieldErrors{}
	var scopes []string
	switch {
	case in.Scopes == nil:
		fe.Add("scopes", herald.MsgRequired)
	case len(*in.Scopes) == 0:
		fe.Add("scopes", herald.MsgEmptyList)
	default:
		for _, sc := range *in.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	name := ""
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
	}
	if err := fe.Err(); err != nil {
		return err
	}
	t := &herald.Token{UserID: a.userID(), Name: name, Scopes: scopes}
	if err := t.Validate(); err != nil {
		return err
	}
	for _, sc := range scopes {
		if !a.token.HasScope(sc) {
			return herald.Errorf(herald.EFORBIDDEN, msgForbidden)
		}
	}
	if err := s.store.CreateToken(r.Context(), t); err != nil {
		return err
	}
	out := newTokenJSON(t)
	out.Token = t.Value
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// handleDeleteTokens answers DELETE /api/0/api-tokens/ as Sentry does: with
// {"tokenId": id} it deletes that token of the caller's user, without it
// every token of the user.
func (s *Server) handleDeleteTokens(w http.ResponseWriter, r *http.Request, a *auth) error {
	var in struct {
		TokenID json.RawMessage `json:"tokenId"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	if len(in.TokenID) > 0 && string(in.TokenID) != "null" {
		raw := strings.Trim(string(in.TokenID), `"`)
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return herald.InvalidField("tokenId", "A valid integer is required.")
		}
		if err := s.store.DeleteToken(ctx, a.userID(), id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	tokens, err := s.store.FindTokens(ctx, a.userID())
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if err := s.store.DeleteToken(ctx, a.userID(), t.ID); err != nil && herald.ErrorCode(err) != herald.ENOTFOUND {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleDeleteToken answers DELETE /api/0/api-tokens/{token_id}/.
func (s *Server) handleDeleteToken(w http.ResponseWriter, r *http.Request, a *auth) error {
	id, err := pathID(r, "token_id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteToken(r.Context(), a.userID(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// nullString returns nil for "" and &s otherwise, for fields Sentry shows as
// null when empty.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nonNil returns l, or an empty list for nil so that it encodes as [].
func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}
