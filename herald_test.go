package herald_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

func TestNewTimeID(t *testing.T) {
	t.Parallel()
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seed := time.Date(2024, 1, 15, 12, 0, 0, 123_000_000, time.UTC)
	tests := []struct {
		name   string
		t      time.Time
		prefix string // the unix milliseconds, 12 hex characters
	}{
		{"Epoch", time.UnixMilli(0), "000000000000"},
		{"Seed", seed, "018d0cfe2a7b"},
		{"SubMillisecondsDropped", seed.Add(999_999 * time.Nanosecond), "018d0cfe2a7b"},
		{"OtherZone", seed.In(time.FixedZone("UTC+2", 2*60*60)), "018d0cfe2a7b"},
		{"ByteCarry", time.UnixMilli(256), "000000000100"},
		{"Largest", time.UnixMilli(1<<48 - 1), "ffffffffffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := herald.NewTimeID(tt.t)
			if !hex32.MatchString(id) {
				t.Fatalf("NewTimeID = %q, want 32 lowercase hex characters", id)
			}
			if id[:12] != tt.prefix {
				t.Fatalf("NewTimeID = %q, want it to start with %s", id, tt.prefix)
			}
			// 80 random bits follow: two ids of one millisecond differ.
			if again := herald.NewTimeID(tt.t); again == id || again[:12] != tt.prefix {
				t.Fatalf("NewTimeID twice = %q, %q; want the same prefix and different random bits", id, again)
			}
		})
	}
}

func TestNewTimeIDSortsByTime(t *testing.T) {
	t.Parallel()
	seed := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name           string
		earlier, later time.Time
	}{
		{"OneMillisecond", seed, seed.Add(time.Millisecond)},
		{"ByteCarry", time.UnixMilli(255), time.UnixMilli(256)},
		{"OneSecond", seed, seed.Add(time.Second)},
		{"Years", seed, seed.AddDate(30, 0, 0)},
		{"Epoch", time.UnixMilli(0), seed},
		{"ZonesDoNotMatter", seed.In(time.FixedZone("UTC-5", -5*60*60)), seed.Add(time.Millisecond).In(time.FixedZone("UTC+9", 9*60*60))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Many pairs, so that random bits cannot make the order hold
			// by chance.
			for range 100 {
				if a, b := herald.NewTimeID(tt.earlier), herald.NewTimeID(tt.later); a >= b {
					t.Fatalf("NewTimeID(%v) = %s does not sort before NewTimeID(%v) = %s", tt.earlier, a, tt.later, b)
				}
			}
		})
	}
}

func TestRandomIDs(t *testing.T) {
	t.Parallel()
	seed := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		gen  func() string
		form *regexp.Regexp
		// fixed lists the positions every value shares; the random bits
		// vary every other character.
		fixed []int
		// distinct: the values have enough random bits never to repeat.
		distinct bool
	}{
		{"NewID", herald.NewID, regexp.MustCompile(`^[0-9a-f]{32}$`), nil, true},
		{"NewSecret", herald.NewSecret, regexp.MustCompile(`^[0-9a-f]{64}$`), nil, true},
		{"RandomHex0", func() string { return herald.RandomHex(0) }, regexp.MustCompile(`^$`), nil, false},
		{"RandomHex1", func() string { return herald.RandomHex(1) }, regexp.MustCompile(`^[0-9a-f]{2}$`), nil, false},
		{"RandomHex24", func() string { return herald.RandomHex(24) }, regexp.MustCompile(`^[0-9a-f]{48}$`), nil, true},
		// The unix milliseconds, then 80 random bits.
		{"NewTimeID", func() string { return herald.NewTimeID(seed) }, regexp.MustCompile(`^018d0cfe2a00[0-9a-f]{20}$`),
			[]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, true},
		// Version 4 (the 4 of the third group), variant RFC 9562 (8, 9,
		// a or b opening the fourth), and dashes.
		{"NewUUID", herald.NewUUID, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`),
			[]int{8, 13, 14, 18, 23}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A hundred values: a random hex character is the same in all
			// of them with a chance of 16^-99.
			values := make([]string, 100)
			seen := map[string]bool{}
			for i := range values {
				v := tt.gen()
				if !tt.form.MatchString(v) {
					t.Fatalf("%s() = %q, want the form %s", tt.name, v, tt.form)
				}
				if tt.distinct && seen[v] {
					t.Fatalf("%s() gave %q twice", tt.name, v)
				}
				seen[v] = true
				values[i] = v
			}
			if got := sharedPositions(values); !slices.Equal(got, tt.fixed) {
				t.Fatalf("%s() values all share the characters at %v, want only at %v: %q", tt.name, got, tt.fixed, values[:3])
			}
		})
	}
}

// sharedPositions returns the positions at which all values, of one
// length, have the same byte.
func sharedPositions(values []string) []int {
	var out []int
	for i := range len(values[0]) {
		if !slices.ContainsFunc(values, func(v string) bool { return v[i] != values[0][i] }) {
			out = append(out, i)
		}
	}
	return out
}

func TestFormatTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"UTC", time.Date(2024, 1, 15, 12, 0, 0, 123_456_000, time.UTC), "2024-01-15T12:00:00.123456Z"},
		{"NanosecondsTruncated", time.Date(2024, 1, 15, 12, 0, 0, 123_456_999, time.UTC), "2024-01-15T12:00:00.123456Z"},
		{"WholeSecond", time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC), "2024-01-15T12:00:00.000000Z"},
		{"EastOfUTC", time.Date(2024, 1, 15, 14, 0, 0, 1_000, time.FixedZone("UTC+2", 2*60*60)), "2024-01-15T12:00:00.000001Z"},
		{"DayBeforeInUTC", time.Date(2024, 1, 1, 0, 30, 0, 0, time.FixedZone("UTC+1", 60*60)), "2023-12-31T23:30:00.000000Z"},
		{"WestOfUTC", time.Date(2024, 2, 28, 22, 0, 0, 0, time.FixedZone("UTC-5", -5*60*60)), "2024-02-29T03:00:00.000000Z"},
		{"Zero", time.Time{}, "0001-01-01T00:00:00.000000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := herald.FormatTime(tt.t)
			if got != tt.want {
				t.Fatalf("FormatTime = %s, want %s", got, tt.want)
			}
			back, err := time.Parse(time.RFC3339Nano, got)
			if err != nil || !back.Equal(tt.t.Truncate(time.Microsecond)) {
				t.Fatalf("FormatTime = %s reads back as %v (%v), want %v", got, back, err, tt.t.Truncate(time.Microsecond))
			}
		})
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		code    string
		message string
	}{
		{"Nil", nil, "", ""},
		{"Error", herald.Errorf(herald.ENOTFOUND, "The requested resource does not exist."), herald.ENOTFOUND, "The requested resource does not exist."},
		{"Wrapped", fmt.Errorf("create hook: %w", herald.Errorf(herald.EINVALID, "Invalid URL.")), herald.EINVALID, "Invalid URL."},
		{"WrappedTwice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", herald.Errorf(herald.ECONFLICT, "Taken."))), herald.ECONFLICT, "Taken."},
		{"Joined", errors.Join(errors.New("rollback failed"), herald.Errorf(herald.EFORBIDDEN, "No.")), herald.EFORBIDDEN, "No."},
		{"FirstInChain", errors.Join(herald.Errorf(herald.EUNAUTHORIZED, "first"), herald.Errorf(herald.EINVALID, "second")), herald.EUNAUTHORIZED, "first"},
		// Any other error is internal, and its text is not for the client.
		{"Plain", errors.New("pq: password authentication failed for user herald"), herald.EINTERNAL, "Internal error."},
		{"Context", fmt.Errorf("claim deliveries: %w", context.Canceled), herald.EINTERNAL, "Internal error."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := herald.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := herald.ErrorMessage(tt.err); got != tt.message {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.message)
			}
		})
	}
}

func TestErrorf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		code    string
		format  string
		args    []any
		message string
	}{
		{"Formatted", herald.EINVALID, "Invalid URL %q.", []any{"ftp://x"}, `Invalid URL "ftp://x".`},
		{"NoArgs", herald.ENOTFOUND, "Not found.", nil, "Not found."},
		{"Percent", herald.ETOOLARGE, "Body over 100%% of %d MB.", []any{20}, "Body over 100% of 20 MB."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := herald.Errorf(tt.code, tt.format, tt.args...)
			if err.Code != tt.code || err.Message != tt.message {
				t.Fatalf("Errorf = %+v, want code %q and message %q", err, tt.code, tt.message)
			}
			if want := "herald error: code=" + tt.code + " message=" + tt.message; err.Error() != want {
				t.Fatalf("Error() = %q, want %q", err.Error(), want)
			}
			var target *herald.Error
			if !errors.As(fmt.Errorf("wrapped: %w", err), &target) || target != err {
				t.Fatalf("errors.As does not find the *Error in a chain")
			}
		})
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"", false},
		{"1", true},
		{"WEB-1", true},
		{"0123456789abcdef0123456789abcdef", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"../etc", false},
		{"a b", false},
		{"é", false},
		{"a%2F", false},
	} {
		if got := herald.ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}
