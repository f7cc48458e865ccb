package password

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestHashAndCheck(t *testing.T) {
	t.Parallel()
	h, err := Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecker(2)
	ctx := context.Background()
	tests := []struct {
		name string
		hash string
		pw   string
		want bool
	}{
		{"Right", h, "correct horse battery", true},
		{"Wrong", h, "correct horse battery!", false},
		{"NoPassword", "", "correct horse battery", false},
		{"Garbage", "not a hash", "correct horse battery", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := c.Check(ctx, tt.hash, tt.pw)
			if err != nil || ok != tt.want {
				t.Fatalf("Check = %v, %v; want %v", ok, err, tt.want)
			}
		})
	}
}

func TestProblem(t *testing.T) {
	t.Parallel()
	for pw, bad := range map[string]bool{"short": true, "eight ch": false, string(make([]byte, 73)): true} {
		if got := Problem(pw) != ""; got != bad {
			t.Errorf("Problem(%q) refuses = %v, want %v", pw, got, bad)
		}
	}
	if _, err := Hash("short"); err == nil {
		t.Error("hashed a password that is too short")
	}
}

func TestCheckerBounded(t *testing.T) {
	t.Parallel()
	c := NewChecker(1)
	c.slots <- struct{}{} // one check under way
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Check(ctx, "", "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Check with no slot = %v, want ErrBusy", err)
	}
}
