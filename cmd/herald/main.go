// Command herald is Herald's single binary: the server (serve), its schema
// migrations (migrate), API tokens (token), the receiver's development tools
// (listen, trigger), the people who sign in (user), the benchmark (bench),
// its version (version), the container's health check (healthcheck) and its
// configuration reference (docs config).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/herald-dev/herald"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "herald:", err)
		}
		os.Exit(exitCode(err))
	}
}

const usage = `Herald is a self-hosted webhook platform that speaks Sentry's webhook protocol.

Usage: herald <command> [flags]

Commands:
  serve        run the Sentry-compatible API, SDK ingest and the delivery workers
  migrate      apply database migrations and exit
  token        create a superuser API token: herald token create
  user         create a person who signs in to the dashboard: herald user create
  listen       receive webhooks locally: verify, print and optionally forward them
  trigger      send a sample webhook of any event, signed as Herald signs it
  bench        benchmark a server: throughput, latency, fan-out, isolation, backlog
  version      print the version, commit and build date (--json)
  healthcheck  exit 0 when a server answers GET /readyz with 200, else 1
  docs         print documentation generated from the code: herald docs config

Run "herald <command> -h" for a command's flags. The flags of serve, migrate,
token and user can also be set with the matching HERALD_* environment variable
(--data-dir: HERALD_DATA_DIR), those of listen and trigger with
HERALD_LISTEN_* and HERALD_TRIGGER_* (--secret: HERALD_LISTEN_SECRET);
bench reads no environment variables.
`

// Run runs the command line args until ctx is cancelled or the command ends.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr, getenv)
	case "migrate":
		return runMigrate(ctx, rest, stdout, stderr, getenv)
	case "token":
		return runToken(ctx, rest, stdout, stderr, getenv)
	case "user":
		return runUser(ctx, rest, stdout, stderr, getenv)
	case "listen":
		return runListen(ctx, rest, stdout, stderr, getenv)
	case "trigger":
		return runTrigger(ctx, rest, stdout, stderr, getenv)
	case "bench":
		return runBench(ctx, rest, stdout, stderr, getenv)
	case "version", "--version", "-v":
		return runVersion(ctx, rest, stdout, stderr, getenv)
	case "healthcheck":
		return runHealthcheck(ctx, rest, stdout, stderr, getenv)
	case "docs":
		return runDocs(ctx, rest, stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// newFlagSet returns a flag set that prints its usage to stderr.
func newFlagSet(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		if c, ok := stderr.(*flagCollector); ok {
			c.collect(fs, summary)
			return
		}
		fmt.Fprintf(stderr, "Usage: herald %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// newLogger returns the logger cfg asks for, writing to w.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg := DefaultConfig()
	fs := newFlagSet("migrate", "Applies Herald's and River's pending migrations, then exits.", stderr)
	cfg.bindStorage(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	s, err := openStore(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintln(stdout, "migrations applied:", describeStore(cfg))
	return nil
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "Usage: herald token create [flags]\n\nCreates a superuser API token with every scope and prints it once.")
		return fmt.Errorf("token: expected the subcommand create")
	}
	cfg := DefaultConfig()
	fs := newFlagSet("token create", "Creates a superuser API token with every scope and prints it once.", stderr)
	cfg.bindStorage(fs)
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	s, err := openStore(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer s.Close()
	t, err := s.EnsureSuperuserToken(ctx, herald.NewSecret())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t.Value)
	return nil
}
