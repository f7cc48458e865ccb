package buildinfo_test

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/buildinfo"
)

func stamped(version string, settings ...string) *debug.BuildInfo {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/herald-dev/herald", Version: version}}
	for i := 0; i+1 < len(settings); i += 2 {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
	}
	return bi
}

func TestResolve(t *testing.T) {
	t.Parallel()
	const rev = "0123456789abcdef0123456789abcdef01234567"
	vcs := []string{"vcs", "git", "vcs.revision", rev, "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "false"}
	dirty := []string{"vcs.revision", rev, "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "true"}
	tests := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  buildinfo.Info
	}{
		{"LinkerFlagsWin", "v0.2.0", "abc1234", "2026-12-06T08:00:00Z", stamped("v0.0.0-20261201100000-0123456789ab", dirty...),
			buildinfo.Info{Version: "v0.2.0", Commit: "abc1234", Date: "2026-12-06T08:00:00Z", Go: "go1.26.8"}},
		{"CheckoutBuild", "0.1.0-dev", "", "", stamped("v0.0.0-20261201100000-0123456789ab", vcs...),
			buildinfo.Info{Version: "0.1.0-dev", Commit: rev, Date: "2026-12-01T10:00:00Z", Go: "go1.26.8"}},
		{"CheckoutBuildDirty", "0.1.0-dev", "", "", stamped("v0.0.0-20261201100000-0123456789ab+dirty", dirty...),
			buildinfo.Info{Version: "0.1.0-dev", Commit: rev, Date: "2026-12-01T10:00:00Z", Modified: true, Go: "go1.26.8"}},
		{"SameCommitGivenKeepsModified", "0.1.0-dev", rev, "", stamped("(devel)", dirty...),
			buildinfo.Info{Version: "0.1.0-dev", Commit: rev, Date: "2026-12-01T10:00:00Z", Modified: true, Go: "go1.26.8"}},
		{"GoInstallRelease", "0.1.0-dev", "", "", stamped("v0.3.1"),
			buildinfo.Info{Version: "v0.3.1", Go: "go1.26.8"}},
		{"GoInstallPrerelease", "0.1.0-dev", "", "", stamped("v0.3.1-rc.1"),
			buildinfo.Info{Version: "v0.3.1-rc.1", Go: "go1.26.8"}},
		{"PseudoVersionNotARelease", "0.1.0-dev", "", "", stamped("v0.3.2-0.20261201100000-0123456789ab"),
			buildinfo.Info{Version: "0.1.0-dev", Go: "go1.26.8"}},
		{"ReleaseDoesNotOverrideSetVersion", "v0.2.0", "", "", stamped("v0.3.1"),
			buildinfo.Info{Version: "v0.2.0", Go: "go1.26.8"}},
		{"Devel", "0.1.0-dev", "", "", stamped("(devel)"),
			buildinfo.Info{Version: "0.1.0-dev", Go: "go1.26.8"}},
		{"NoBuildInfo", "0.1.0-dev", "", "", nil,
			buildinfo.Info{Version: "0.1.0-dev", Go: runtime.Version()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := buildinfo.Resolve(tt.version, tt.commit, tt.date, tt.bi); got != tt.want {
				t.Fatalf("Resolve = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestInfoString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		info buildinfo.Info
		want string
	}{
		{"Full", buildinfo.Info{Version: "v0.2.0", Commit: "0123456789abcdef", Date: "2026-12-06T08:00:00Z", Go: "go1.26.8"},
			"herald v0.2.0 (commit 0123456789ab, built 2026-12-06T08:00:00Z, go1.26.8)"},
		{"ShortCommitKept", buildinfo.Info{Version: "v0.2.0", Commit: "abc1234", Date: "2026-12-06T08:00:00Z", Go: "go1.26.8"},
			"herald v0.2.0 (commit abc1234, built 2026-12-06T08:00:00Z, go1.26.8)"},
		{"Dirty", buildinfo.Info{Version: "0.1.0-dev", Commit: "0123456789abcdef", Modified: true, Date: "2026-12-01T10:00:00Z", Go: "go1.26.8"},
			"herald 0.1.0-dev (commit 0123456789ab+dirty, built 2026-12-01T10:00:00Z, go1.26.8)"},
		{"Unknown", buildinfo.Info{Version: "0.1.0-dev", Go: "go1.26.8"},
			"herald 0.1.0-dev (commit unknown, built unknown, go1.26.8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.info.String(); got != tt.want {
				t.Fatalf("String = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRead: a test binary carries no version of its own, so Read reports
// herald.Version and the Go that built it.
func TestRead(t *testing.T) {
	t.Parallel()
	got := buildinfo.Read()
	if got.Version != herald.Version || got.Go != runtime.Version() {
		t.Fatalf("Read = %+v, want version %q and %s", got, herald.Version, runtime.Version())
	}
}
