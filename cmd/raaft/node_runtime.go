package main

import (
	"fmt"
	"os"
	"runtime/debug"

	metrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// gcPercentDefault is the garbage collector's target for a node process
// when GOGC is not set: a node's live heap is small (tens of MB) and most
// of its garbage is per-request, so collecting four times less often costs
// little memory and gave about 10% more writes/s at 16 and 64 clients in
// the cluster benchmark (three alternating runs each, docs/BENCHMARKS.md).
const gcPercentDefault = 400

// tuneGC sets gcPercentDefault unless the operator chose GOGC.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercentDefault)
	}
}

// raftMetrics routes the timings hashicorp/raft reports (commit time, log
// stores, FSM batches, replication RPCs) to the node's /metrics as
// raaft_raft_* summaries. raft reports only through go-metrics' process-wide
// sink, so this is set once per process, by raaft node run, never by the
// node package (tests run several nodes in one process).
func raftMetrics() (prometheus.Collector, error) {
	// The sink registers itself with Registerer; the node's own registry
	// serves it, so this one is only a place to put that registration.
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{Registerer: prometheus.NewRegistry()})
	if err != nil {
		return nil, fmt.Errorf("raft metrics: %w", err)
	}
	mc := metrics.DefaultConfig("raaft")
	mc.EnableHostname = false
	mc.EnableHostnameLabel = false
	mc.EnableRuntimeMetrics = false // the Go collector on /metrics covers the runtime
	if _, err := metrics.NewGlobal(mc, sink); err != nil {
		return nil, fmt.Errorf("raft metrics: %w", err)
	}
	return sink, nil
}
