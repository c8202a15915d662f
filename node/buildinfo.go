package node

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Build describes the running binary, from what the Go toolchain records
// in it: the module version (a tag, or "(devel)" for a local build), the
// VCS revision and time it was built from, and whether the tree had
// uncommitted changes.
type Build struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Time      string `json:"time"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
}

// BuildInfo reads the binary's build information; fields the toolchain
// did not record (a build outside a VCS checkout) are "unknown".
func BuildInfo() Build {
	b := Build{Version: "unknown", Revision: "unknown", Time: "unknown", GoVersion: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.GoVersion = bi.GoVersion
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// buildInfoGauge is raaft_build_info: always 1, its labels saying which
// build runs, so a dashboard shows every node's version side by side
// during a rolling upgrade.
func buildInfoGauge() prometheus.Collector {
	b := BuildInfo()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "raaft_build_info",
		Help:        "Which raaft build this node runs (always 1; the labels say which).",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "go_version": b.GoVersion},
	})
	g.Set(1)
	return g
}
