package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
)

// Limits of a rebuild in place.
const (
	// leadershipTransferTimeout bounds the wait for a damaged or diverged
	// leader to hand over before it closes anyway (Raft then elects).
	leadershipTransferTimeout = 10 * time.Second
	// repairMarker beside ledger.db says the file was found damaged or
	// different from the quorum's and not yet rebuilt: the next start sets
	// it aside whatever happens to the process meanwhile.
	repairMarker = ".repair"
)

// repairer is what a running node does when its ledger turns out to be
// damaged (the periodic integrity check) or different from the one more
// than half of the agencies signed (consensus.Config.OnDivergence). It
// stops serving the ledger's data at once (503 ledger_diverged, /readyz
// says why), marks ledger.db for a rebuild at the next start, hands
// leadership over, then rebuilds in place: Raft closed, ledger.db set
// aside as ledger.db.<reason>-<time> and started afresh from the
// genesis, Raft reopened, which restores the newest snapshot that passes
// its checks and replays the log, and the node serves again once it has
// caught up with the federation.
type repairer struct {
	d       *Daemon
	genesis []byte
	consCfg consensus.Config

	why       atomic.Pointer[error] // non-nil: the ledger is not served
	rebuilt   atomic.Bool           // rebuilt, not caught up yet
	mu        sync.Mutex            // one rebuild at a time; stop waits for it
	stopped   bool
	triggered bool
	wg        sync.WaitGroup
	quit      chan struct{}

	checks       *prometheus.CounterVec
	lastCheck    prometheus.Gauge
	checkSeconds prometheus.Gauge
	repairs      *prometheus.CounterVec
	notServing   prometheus.Gauge
}

func (r *repairer) init(d *Daemon) {
	r.d, r.quit = d, make(chan struct{})
	r.checks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raaft_ledger_integrity_checks_total",
		Help: "Integrity checks of the whole ledger while the node runs (housekeeping.integrity_interval), by result: ok, damaged or error."}, []string{"result"})
	r.lastCheck = prometheus.NewGauge(prometheus.GaugeOpts{Name: "raaft_ledger_integrity_last_check_timestamp_seconds",
		Help: "When the last integrity check of the whole ledger finished (Unix seconds)."})
	r.checkSeconds = prometheus.NewGauge(prometheus.GaugeOpts{Name: "raaft_ledger_integrity_check_seconds",
		Help: "How long the last integrity check of the whole ledger took."})
	r.repairs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raaft_ledger_rebuilds_total",
		Help: "Rebuilds of the ledger in place, by reason (damaged, diverged) and result (ok, failed)."}, []string{"reason", "result"})
	r.notServing = prometheus.NewGauge(prometheus.GaugeOpts{Name: "raaft_ledger_not_serving",
		Help: "1 while the node serves none of its ledger's data because the ledger was found damaged or different from the quorum's."})
}

func (r *repairer) collectors() []prometheus.Collector {
	return []prometheus.Collector{r.checks, r.lastCheck, r.checkSeconds, r.repairs, r.notServing}
}

// start runs the periodic integrity check.
func (r *repairer) start() {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.d.cfg.Housekeeping.IntegrityInterval)
		defer t.Stop()
		for {
			select {
			case <-r.quit:
				return
			case <-t.C:
				r.checkOnce()
			}
		}
	}()
}

// stop ends the periodic check and waits for a rebuild under way.
func (r *repairer) stop() {
	r.mu.Lock()
	if !r.stopped {
		r.stopped = true
		close(r.quit)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// checkOnce checks the whole ledger as it is now (one read transaction,
// while batches go on).
func (r *repairer) checkOnce() {
	if r.why.Load() != nil {
		return
	}
	start := time.Now()
	err := r.d.ledger.CheckIntegrity(0)
	r.checkSeconds.Set(time.Since(start).Seconds())
	r.lastCheck.Set(float64(time.Now().Unix()))
	switch {
	case err == nil:
		r.checks.WithLabelValues("ok").Inc()
	case ledger.IsDamage(err):
		r.checks.WithLabelValues("damaged").Inc()
		r.d.log.Error("the periodic integrity check found ledger.db damaged", "damage", err)
		r.trigger("damaged", fmt.Errorf("%w: the ledger file is damaged (%v); it is being rebuilt from the federation", ErrDiverged, err))
	case errors.Is(err, ledger.ErrClosed):
	default:
		r.checks.WithLabelValues("error").Inc()
		r.d.log.Warn("integrity check", "err", err)
	}
}

// diverged is consensus's OnDivergence.
func (r *repairer) diverged(dv consensus.Divergence) {
	r.trigger("diverged", fmt.Errorf("%w: at size %d this ledger has root %s state hash %s; more than half of the agencies signed root %s state hash %s; it is being rebuilt from the federation",
		ErrDiverged, dv.Size, dv.Root, dv.StateHash, dv.QuorumRoot, dv.QuorumStateHash))
}

// serving is nil, or why this node must not serve its ledger's data:
// found damaged or diverged, or rebuilt and not caught up yet (its ledger
// is then a prefix of the federation's, older than any read should see).
func (r *repairer) serving() error {
	if p := r.why.Load(); p != nil {
		return *p
	}
	if r.rebuilt.Load() {
		if _, err := r.d.catchUp(context.Background()); err != nil {
			return fmt.Errorf("%w: the ledger was rebuilt and is catching up with the federation: %v", errNotReady, err)
		}
		r.rebuilt.Store(false)
	}
	return nil
}

// trigger stops serving at once and starts one rebuild.
func (r *repairer) trigger(reason string, why error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || r.triggered {
		return
	}
	r.triggered = true
	r.why.Store(&why)
	r.notServing.Set(1)
	marker := filepath.Join(r.d.cfg.Node.DataDir, "ledger.db") + repairMarker
	if err := os.WriteFile(marker, []byte(reason+": "+why.Error()+"\n"), 0o600); err != nil {
		r.d.log.Error("cannot mark ledger.db for a rebuild at the next start", "err", err)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.rebuild(reason, marker)
	}()
}

// rebuild replaces the ledger in place. On failure the node stays not
// serving, says why, and the marker makes the next start try again.
func (r *repairer) rebuild(reason, marker string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	d, start := r.d, time.Now()
	r.handOver()
	if old := d.cons.Swap(nil); old != nil {
		if err := old.Close(); err != nil {
			d.log.Warn("closing consensus for the rebuild", "err", err)
		}
	}
	suffix := asideSuffix(reason)
	err := d.ledger.Rebuild(suffix, r.genesis)
	var n *consensus.Node
	if err == nil {
		n, err = d.openConsensus(r.genesis)
	}
	if err == nil {
		d.cons.Store(n)
	}
	if err != nil {
		r.repairs.WithLabelValues(reason, "failed").Inc()
		why := fmt.Errorf("%w: rebuilding the ledger failed (%v); restart the node to try again", ErrDiverged, err)
		r.why.Store(&why)
		d.log.Error("rebuilding the ledger failed; the node serves nothing until it is restarted", "err", err)
		return
	}
	os.Remove(marker)
	r.rebuilt.Store(true)
	r.why.Store(nil)
	r.triggered = false
	r.notServing.Set(0)
	r.repairs.WithLabelValues(reason, "ok").Inc()
	d.log.Warn("ledger rebuilt in place; catching up with the federation before serving again",
		"reason", reason, "moved_to", filepath.Join(d.cfg.Node.DataDir, "ledger.db")+suffix, "took_ms", time.Since(start).Milliseconds())
}

// handOver transfers leadership if this node leads, bounded.
func (r *repairer) handOver() {
	n := r.d.cons.Load()
	if n == nil || n.Raft().State() != raft.Leader {
		return
	}
	r.d.log.Warn("handing leadership over before rebuilding the ledger")
	ctx, cancel := context.WithTimeout(context.Background(), leadershipTransferTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Raft().LeadershipTransfer().Error() }()
	select {
	case err := <-done:
		if err != nil {
			r.d.log.Warn("leadership transfer", "err", err)
		}
	case <-ctx.Done():
		r.d.log.Warn("leadership transfer did not finish; closing anyway")
	}
}

// markedReason reads the repair marker a previous run left beside path:
// "diverged" or "damaged" (the aside file's name), "" if there is none.
func markedReason(path string) string {
	b, err := os.ReadFile(path + repairMarker)
	if err != nil {
		return ""
	}
	reason, _, _ := strings.Cut(string(b), ":")
	if reason != "diverged" && reason != "damaged" {
		return "repair"
	}
	return reason
}
