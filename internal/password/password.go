// Package password hashes and checks the passwords people sign in with
// (bcrypt, from golang.org/x/crypto). Checking is deliberately slow, so the
// number of checks under way at once is bounded: a flood of sign-in
// attempts costs the server a bounded share of its CPU.
package password

import (
	"context"
	"errors"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Cost is bcrypt's work factor: about 50 ms a check on a server core.
const Cost = bcrypt.DefaultCost

// Bounds of a password: bcrypt reads at most 72 bytes.
const (
	MinLength = 8
	MaxLength = 72
)

// Problem returns what is wrong with a new password, or "".
func Problem(pw string) string {
	switch {
	case utf8.RuneCountInString(pw) < MinLength:
		return "Ensure this field has at least 8 characters."
	case len(pw) > MaxLength:
		return "Ensure this field has no more than 72 bytes."
	}
	return ""
}

// Hash returns the hash of a password to store.
func Hash(pw string) (string, error) {
	if msg := Problem(pw); msg != "" {
		return "", errors.New(msg)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), Cost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// Checker checks passwords against their hashes, at most a fixed number at
// once.
type Checker struct {
	slots chan struct{}
	dummy []byte
}

// NewChecker returns a Checker running at most n checks at once.
func NewChecker(n int) *Checker {
	dummy, _ := bcrypt.GenerateFromPassword([]byte("a password nobody has"), Cost)
	return &Checker{slots: make(chan struct{}, max(n, 1)), dummy: dummy}
}

// ErrBusy is returned when no check could start before ctx ended.
var ErrBusy = errors.New("password: too many sign-ins under way")

// Check reports whether pw is the password of hash. An empty hash (a user
// without a password, or none at all) is checked against a dummy so that
// the answer takes as long, and is false.
func (c *Checker) Check(ctx context.Context, hash, pw string) (bool, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ErrBusy
	}
	defer func() { <-c.slots }()
	h := []byte(hash)
	if hash == "" {
		h = c.dummy
	}
	ok := bcrypt.CompareHashAndPassword(h, []byte(pw)) == nil
	return ok && hash != "", nil
}
