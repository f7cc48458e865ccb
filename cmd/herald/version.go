package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/herald-dev/herald/internal/buildinfo"
)

// runVersion runs `herald version [--json]`.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer, _ func(string) string) error {
	fs := newFlagSet("version", "Prints Herald's version, the commit it was built from, when it was built and with which Go.", stderr)
	asJSON := fs.Bool("json", false, "print the version as JSON: version, commit, date, modified, go")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("version: unexpected argument %q", fs.Arg(0))
	}
	info := buildinfo.Read()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprintln(stdout, info)
	return err
}
