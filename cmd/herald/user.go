package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/password"
)

// runUser runs `herald user create`: Sentry's createuser. It works while a
// server runs on the same database.
func runUser(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const summary = "Creates a person who signs in to the dashboard with an email and a password.\n" +
		"With --superuser they see and do everything; others see the organizations they are members of\n" +
		"(add them with POST /api/0/organizations/{org}/members/ or on the Members page)."
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "Usage: herald user create --email E --password P [--superuser] [--force-update] [flags]\n\n"+summary)
		return fmt.Errorf("user: expected the subcommand create")
	}
	cfg := DefaultConfig()
	fs := newFlagSet("user create", summary, stderr)
	cfg.bindStorage(fs)
	email := fs.String("email", "", "the user's email, which they sign in with")
	pw := fs.String("password", "", "the user's password, at least 8 characters")
	name := fs.String("name", "", "the user's name (default: the email)")
	superuser := fs.Bool("superuser", false, "make the user a superuser")
	force := fs.Bool("force-update", false, "when a user with this email exists, set their password instead of failing")
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	*email = strings.ToLower(strings.TrimSpace(*email))
	if *email == "" || !strings.Contains(*email, "@") {
		return fmt.Errorf("email: an email address is required")
	}
	if msg := password.Problem(*pw); msg != "" {
		return fmt.Errorf("password: %s", msg)
	}
	hash, err := password.Hash(*pw)
	if err != nil {
		return err
	}
	s, err := openStore(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer s.Close()
	u := &herald.User{Email: *email, Name: *name, IsSuperuser: *superuser}
	verb := "created"
	err = s.CreateUser(ctx, u)
	if herald.ErrorCode(err) == herald.ECONFLICT && *force {
		if u, err = s.FindUserByEmail(ctx, *email); err != nil {
			return err
		}
		verb = "updated the password of"
	} else if herald.ErrorCode(err) == herald.ECONFLICT {
		return fmt.Errorf("email: a user with this email exists (--force-update sets their password)")
	} else if err != nil {
		return err
	}
	if err := s.SetPassword(ctx, u.ID, hash); err != nil {
		return err
	}
	kind := "user"
	if u.IsSuperuser {
		kind = "superuser"
	}
	fmt.Fprintf(stdout, "%s %s %s (id %d)\n", verb, kind, u.Email, u.ID)
	return nil
}
