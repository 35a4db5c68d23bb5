package version

import (
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{
			Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: rev},
				{Key: "vcs.modified", Value: modified},
			},
		}
	}
	tests := []struct {
		name        string
		tag, commit string
		bi          *debug.BuildInfo
		want        string
	}{
		{"stamped", "v0.2.0", "0123456789abcdef0123", nil, "v0.2.0 (commit 0123456789ab)"},
		{"stamped wins over build info", "v0.2.0", "aaaaaaaaaaaaaaaa", vcs("bbbbbbbbbbbbbbbb", "true"), "v0.2.0 (commit aaaaaaaaaaaa)"},
		{"git checkout", "", "", vcs("cccccccccccccccc", "false"), "v0.1.0-dev (commit cccccccccccc)"},
		{"dirty checkout", "", "", vcs("cccccccccccccccc", "true"), "v0.1.0-dev (commit cccccccccccc, modified)"},
		{"toolchain pseudo-version of a dirty tree", "", "", &debug.BuildInfo{
			Main:     debug.Module{Version: "v0.0.0-20261129-abcdef012345+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abcdef0123456789"}, {Key: "vcs.modified", Value: "true"}},
		}, "v0.0.0-20261129-abcdef012345+dirty (commit abcdef012345)"},
		{"go install of a release", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.1"}}, "v0.3.1"},
		{"nothing known", "", "", nil, "v0.1.0-dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolve(tt.tag, tt.commit, tt.bi).String(); got != tt.want {
				t.Errorf("resolve() = %q, want %q", got, tt.want)
			}
		})
	}
}
