// Package buildinfo tells which build of Herald is running: its version,
// the commit it was built from, when it was built and with which Go. The
// build sets them with -ldflags -X:
//
//	-X github.com/herald-dev/herald.Version=v0.2.0
//	-X github.com/herald-dev/herald/internal/buildinfo.commit=<git commit>
//	-X github.com/herald-dev/herald/internal/buildinfo.date=<RFC 3339 time>
//
// What a build leaves unset is read from what the go command stamps into
// every binary (debug.ReadBuildInfo): the module version of `go install
// ...@v0.2.0`, and the commit, its time and whether the tree had local
// changes (vcs.revision, vcs.time, vcs.modified) of a build in a git
// checkout.
package buildinfo

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/herald-dev/herald"
)

// commit and date are set at link time (see the package documentation).
var commit, date string

// Info describes a build of Herald.
type Info struct {
	// Version is herald.Version, or the module version the go command
	// stamped when herald.Version is the source tree's development version.
	Version string `json:"version"`
	// Commit is the full commit the binary was built from; empty when
	// unknown.
	Commit string `json:"commit"`
	// Date is when the binary was built (RFC 3339), or the commit's time
	// when the build did not say; empty when unknown.
	Date string `json:"date"`
	// Modified reports a build from a tree with uncommitted changes.
	Modified bool `json:"modified"`
	// Go is the Go version the binary was built with.
	Go string `json:"go"`
}

// Read returns the Info of the running binary.
func Read() Info { return read() }

var read = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	return Resolve(herald.Version, commit, date, bi)
})

// Resolve combines what the build set at link time (version, commit, date;
// empty when not set) with what the go command stamped (bi, nil when
// none) into an Info.
func Resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, Date: date, Go: runtime.Version()}
	if bi == nil {
		return info
	}
	if bi.GoVersion != "" {
		info.Go = bi.GoVersion
	}
	var rev, at string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if info.Commit == "" {
		info.Commit = rev
	}
	if info.Date == "" {
		info.Date = at
	}
	// Whether the tree was modified is known only for the commit the go
	// command saw.
	info.Modified = modified && rev != "" && info.Commit == rev
	if isDevVersion(info.Version) && isRelease(bi.Main.Version) {
		info.Version = bi.Main.Version
	}
	return info
}

// isDevVersion reports whether v is a development version (the source
// tree's default, such as 0.1.0-dev) rather than one a build set.
func isDevVersion(v string) bool { return v == "" || strings.HasSuffix(v, "-dev") }

// pseudoVersion matches the suffix of a Go pseudo-version, which names a
// commit rather than a release: vX.Y.Z-[pre.]yyyymmddhhmmss-abcdefabcdef.
var pseudoVersion = regexp.MustCompile(`[-.]\d{14}-[0-9a-f]{12}(\+incompatible)?$`)

// isRelease reports whether a module version stamped by the go command is
// a tagged release: not "(devel)", not a pseudo-version, not dirty.
func isRelease(v string) bool {
	return strings.HasPrefix(v, "v") && !strings.Contains(v, "+dirty") && !pseudoVersion.MatchString(v)
}

// ShortCommit returns the first 12 characters of the commit, followed by
// "+dirty" for a modified tree, or "unknown".
func (i Info) ShortCommit() string {
	if i.Commit == "" {
		return "unknown"
	}
	c := i.Commit[:min(len(i.Commit), 12)]
	if i.Modified {
		c += "+dirty"
	}
	return c
}

// String returns the line `herald version` prints, such as
// "herald v0.2.0 (commit 0123456789ab, built 2026-12-06T08:00:00Z, go1.26.8)".
func (i Info) String() string {
	built := i.Date
	if built == "" {
		built = "unknown"
	}
	return fmt.Sprintf("herald %s (commit %s, built %s, %s)", i.Version, i.ShortCommit(), built, i.Go)
}
