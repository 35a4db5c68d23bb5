// Package version holds the bridge's version and the commit it was built from.
//
// Both are stamped at build time by the Makefile with
//
//	-ldflags "-X github.com/matrix-whatsapp/matrix-whatsapp/internal/version.Tag=v0.2.0
//	          -X github.com/matrix-whatsapp/matrix-whatsapp/internal/version.Commit=<hash>"
//
// A binary built without those flags (go build, go install, go test) falls back to what the Go
// toolchain records in the binary (runtime/debug.ReadBuildInfo): the module version when installed
// with `go install ...@vX`, and the VCS revision when built inside a git checkout.
package version

import (
	"runtime/debug"
	"strings"
	"sync"
)

// Tag is the release this binary belongs to, e.g. "v0.2.0" or "v0.2.0-3-gabc1234-dirty"
// (git describe). Empty unless set with -ldflags.
var Tag string

// Commit is the full git commit hash the binary was built from. Empty unless set with -ldflags.
var Commit string

// Dirty is "true" when the binary was built from a checkout with uncommitted changes to tracked
// files. Set with -ldflags together with Commit.
var Dirty string

// fallbackTag is used when neither -ldflags nor the build info name a version.
const fallbackTag = "v0.1.0-dev"

// Info is the resolved version of this binary.
type Info struct {
	// Version is the release tag, e.g. "v0.2.0"; "v0.1.0-dev" for an unstamped development build.
	Version string
	// Commit is the git commit hash, or "" when unknown.
	Commit string
	// Modified reports a build from a checkout with uncommitted changes (only known from build info).
	Modified bool
}

// String renders the version as shown by `matrix-whatsapp -version` and the `version` command:
// "v0.2.0 (commit abc1234)", or just the version when the commit is unknown.
func (i Info) String() string {
	if i.Commit == "" {
		return i.Version
	}
	short := i.Commit
	if len(short) > 12 {
		short = short[:12]
	}
	if i.Modified && !strings.HasSuffix(i.Version, "-dirty") && !strings.HasSuffix(i.Version, "+dirty") {
		short += ", modified"
	}
	return i.Version + " (commit " + short + ")"
}

// Short is the version without the commit, e.g. "v0.2.0", for user agents and device names.
func (i Info) Short() string {
	return i.Version
}

var (
	resolved     Info
	resolvedOnce sync.Once
)

// Get returns this binary's version. It is cheap after the first call.
func Get() Info {
	resolvedOnce.Do(func() {
		resolved = resolve(Tag, Commit, readBuildInfo())
		if Commit != "" {
			resolved.Modified = Dirty == "true"
		}
	})
	return resolved
}

func readBuildInfo() *debug.BuildInfo {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return info
}

// resolve combines the stamped values with the build info; stamped values win.
func resolve(tag, commit string, bi *debug.BuildInfo) Info {
	info := Info{Version: tag, Commit: commit}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.modified":
				if commit == "" {
					info.Modified = s.Value == "true"
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = fallbackTag
	}
	return info
}
