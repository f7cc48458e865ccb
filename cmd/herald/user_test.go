package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/herald-dev/herald/internal/password"
)

func TestUserCreate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := func(string) string { return "" }
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := Run(context.Background(), append([]string{"user", "create", "--data-dir", dir, "--log-level", "error"}, args...), &out, &errOut, env)
		return out.String(), err
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"ErrNoEmail", []string{"--password", "long enough password"}, "email:"},
		{"ErrShortPassword", []string{"--email", "a@acme.example", "--password", "short"}, "password:"},
	} {
		if _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one about %q", tc.name, err, tc.want)
		}
	}

	out, err := run("--email", "Ada@Acme.example", "--password", "first password", "--superuser")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "created superuser ada@acme.example") {
		t.Fatalf("output = %q", out)
	}
	if _, err := run("--email", "ada@acme.example", "--password", "second password"); err == nil || !strings.Contains(err.Error(), "--force-update") {
		t.Fatalf("creating the same user again: err = %v", err)
	}
	if out, err = run("--email", "ada@acme.example", "--password", "second password", "--force-update"); err != nil || !strings.Contains(out, "updated the password of superuser") {
		t.Fatalf("force update: %q %v", out, err)
	}

	cfg := DefaultConfig()
	cfg.DataDir = dir
	s, err := openStore(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.FindLogin(context.Background(), "ada@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	if !u.IsSuperuser {
		t.Fatal("not a superuser")
	}
	if ok, err := password.NewChecker(1).Check(context.Background(), u.PasswordHash, "second password"); err != nil || !ok {
		t.Fatalf("the new password does not match: %v %v", ok, err)
	}
}
