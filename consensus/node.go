package consensus

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/raaft/raaft/ledger"
)

// Errors a caller must tell apart: rejected (final), not the leader (retry
// there) and unknown outcome (retry with the same idempotency id); see
// CONTRIBUTING.md, "Three outcomes of a write".
var (
	// ErrNoLeader is returned when no leader could be reached before the
	// deadline. Definite: the command was not written.
	ErrNoLeader = errors.New("consensus: no leader reachable before the deadline")
	// ErrUnknownOutcome is returned when the command reached a leader but the
	// outcome is unknown (leadership lost, deadline): it may still commit.
	// Retry with the same signed bytes; the idempotency id prevents a double apply.
	ErrUnknownOutcome = errors.New("consensus: outcome unknown; retry with the same idempotency id")
	// ErrNotLeader is returned by leader-only operations on a follower.
	ErrNotLeader = errors.New("consensus: not the leader")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("consensus: node closed")
)

// Limits and intervals.
const (
	retryBackoffMin      = 20 * time.Millisecond
	retryBackoffMax      = 500 * time.Millisecond
	appliedPollInterval  = 2 * time.Millisecond
	leaderWatchInterval  = 100 * time.Millisecond // backs up raft's leader observations for forwarded writes
	membershipInterval   = 500 * time.Millisecond
	rpcHandlersMax       = 256 // concurrent inbound RPC streams
	snapshotsRetained    = 2
	logCacheEntries      = 512
	promoteLagEntriesMax = 64 // a nonvoter this close to the leader's commit index is caught up
)

// Timings are the Raft timers. WAN-safe defaults come from DefaultTimings;
// tests use FastTimings.
type Timings struct {
	Heartbeat         time.Duration
	Election          time.Duration
	LeaderLease       time.Duration
	Commit            time.Duration
	MaxAppendEntries  int
	TrailingLogs      uint64
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	SnapshotMaxAge    time.Duration // a snapshot at least this often while entries arrive (0: only by threshold)
	ApplyTimeout      time.Duration
}

// DefaultTimings are for nodes spread across England's public networks:
// multi-second heartbeat and election timeouts (Consul's WAN guidance) so
// a slow link does not cause needless elections.
func DefaultTimings() Timings {
	return Timings{Heartbeat: 2 * time.Second, Election: 2 * time.Second, LeaderLease: time.Second, Commit: 50 * time.Millisecond,
		MaxAppendEntries: 512, TrailingLogs: 10240, SnapshotThreshold: 8192, SnapshotInterval: 120 * time.Second, ApplyTimeout: 10 * time.Second}
}

// FastTimings are for tests and the local development federation on one machine.
func FastTimings() Timings {
	return Timings{Heartbeat: 250 * time.Millisecond, Election: 250 * time.Millisecond, LeaderLease: 100 * time.Millisecond, Commit: 5 * time.Millisecond,
		MaxAppendEntries: 512, TrailingLogs: 10240, SnapshotThreshold: 8192, SnapshotInterval: 30 * time.Second, ApplyTimeout: 5 * time.Second}
}

// Config configures a Node.
type Config struct {
	NodeID        string
	DataDir       string // holds raft.db and snapshots/
	Ledger        *ledger.Ledger
	Signer        *ledger.Signer     // the node's agency key: checkpoints and housekeeping entries
	NodeKey       ed25519.PrivateKey // the node's TLS key, registered in the ledger
	BindAddr      string             // UDP host:port for QUIC
	AdvertiseAddr string             // defaults to the bound address
	Timings       Timings
	VotersMax     int  // 3 or 5; further nodes stay nonvoters
	NoSync        bool // tests only
	// Bootstrap makes a founding node form the cluster from the genesis
	// registry when it has no Raft state yet (idempotent across restarts).
	Bootstrap          bool
	ForwardTimeout     time.Duration // deadline for a write when the caller's context has none
	ExpireInterval     time.Duration // leader proposes expiry of past-due holds this often (0: off)
	CheckpointInterval time.Duration // nodes sign and exchange tree heads this often (0: off)
	Logger             *slog.Logger
	RaftLogOutput      io.Writer        // raft's own log lines (WARN and above); nil discards
	Now                func() time.Time // the leader's clock for envelopes; nil = time.Now
	// PacketFilter drops datagrams to or from refused peers (tests: partitions).
	PacketFilter func(peer net.Addr) bool
	// OnDivergence is called once, from the checkpoint exchange, when more
	// than half of the active agencies signed a head that differs from this
	// node's at a size it holds. The node stops signing; the caller stops
	// serving and repairs (node.Daemon).
	OnDivergence func(Divergence)
}

func (c *Config) validate() error {
	switch {
	case c.NodeID == "" || c.DataDir == "" || c.Ledger == nil || c.Signer == nil || len(c.NodeKey) != ed25519.PrivateKeySize || c.BindAddr == "":
		return errors.New("consensus: config needs NodeID, DataDir, Ledger, Signer, NodeKey and BindAddr")
	case c.VotersMax != 3 && c.VotersMax != 5:
		return fmt.Errorf("consensus: VotersMax %d: expected 3 or 5", c.VotersMax)
	case c.Timings.Heartbeat <= 0 || c.Timings.Election < c.Timings.Heartbeat || c.Timings.LeaderLease > c.Timings.Heartbeat:
		return errors.New("consensus: timings: need 0 < heartbeat <= election and lease <= heartbeat")
	case c.ForwardTimeout <= 0:
		return errors.New("consensus: ForwardTimeout must be positive")
	}
	return nil
}

// Node is one agency node's membership in the federation's Raft cluster.
type Node struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	l     *ledger.Ledger
	layer *QUICLayer
	store *BoltStore
	logs  raft.LogStore // the log cache in front of store, as raft reads it
	trans *raft.NetworkTransport
	raft  *raft.Raft
	cps   *checkpoints
	fsm   *fsm
	snaps raft.SnapshotStore

	snapSend chan struct{} // snapshotSendersMax tokens
	fwd      forwards      // writes forwarded to the leader, abandoned when it changes
	leaderCh chan raft.Observation

	barrierMu   sync.Mutex
	barrierTerm uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}
}

// Open starts the node: the QUIC layer, the Raft log store, Raft itself
// (bootstrapping from the genesis registry if asked and new), the RPC
// server and the background jobs. The ledger must already hold the genesis.
func Open(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if _, err := cfg.Ledger.GenesisHash(); err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, now: cfg.Now, l: cfg.Ledger, sem: make(chan struct{}, rpcHandlersMax), snapSend: make(chan struct{}, snapshotSendersMax)}
	if n.log == nil {
		n.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if n.now == nil {
		n.now = time.Now
	}
	n.log = n.log.With("node", cfg.NodeID)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	// before start: the snapshot checks read the kept co-signed checkpoints
	n.cps = newCheckpoints(n)
	if err := n.start(); err != nil {
		n.cancel()
		n.closeParts()
		return nil, err
	}
	n.goLoop(n.serveRPC)
	n.goLoop(n.membershipLoop)
	n.goLoop(func() { n.watchLeader(n.leaderCh) })
	if cfg.ExpireInterval > 0 {
		n.goLoop(n.expireLoop)
	}
	if cfg.CheckpointInterval > 0 {
		n.goLoop(n.cps.loop)
	}
	if cfg.Timings.SnapshotMaxAge > 0 {
		n.goLoop(n.snapshotAgeLoop)
	}
	return n, nil
}

func (n *Node) goLoop(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

func (n *Node) start() error {
	cfg := n.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	cert, err := NewNodeCertificate(cfg.NodeKey, cfg.NodeID)
	if err != nil {
		return err
	}
	n.layer, err = NewQUICLayer(QUICConfig{BindAddr: cfg.BindAddr, AdvertiseAddr: cfg.AdvertiseAddr, Certificate: cert, Authorize: n.authorize, RegisteredAt: n.registeredAt, Logger: n.log, PacketFilter: cfg.PacketFilter})
	if err != nil {
		return err
	}
	n.store, err = OpenBoltStore(filepath.Join(cfg.DataDir, "raft.db"), BoltStoreOptions{NoSync: cfg.NoSync})
	if err != nil {
		return err
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: cfg.RaftLogOutput})
	if cfg.RaftLogOutput == nil {
		hlog = hclog.NewNullLogger()
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, snapshotsRetained, hlog)
	if err != nil {
		return err
	}
	n.snaps = snaps
	if err := n.checkAppliedIndex(); err != nil {
		return err
	}
	// the transport exists before the catch-up: a snapshot fetched from a
	// peer is stored through raft's snapshot store, which encodes its
	// peers with it; Raft RPCs that arrive meanwhile wait for NewRaft
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: n.layer, MaxPool: 3, Timeout: 10 * time.Second, Logger: hlog,
		// Pipelining off: with more than one AppendEntries in flight, raft's
		// replication goroutine can block for good on a stale term, and
		// Shutdown then never returns (hashicorp/raft#612; seen here under load).
		MaxRPCsInFlight: 1,
	})
	if err := n.catchUpFromSnapshot(snaps); err != nil && !errors.Is(err, errNoUsableSnapshot) {
		return err
	}
	if err := n.catchUpFromPeers(snaps); err != nil {
		return err
	}
	lc, err := raft.NewLogCache(logCacheEntries, n.store)
	if err != nil {
		return err
	}
	cache := &cachedStore{LogCache: lc, commit: n.store}
	n.logs = cache
	n.fsm = &fsm{l: n.l, restore: n.restoreCarried, carry: n.cps.newestCosigned}
	if idx, err := n.l.LastApplied(); err == nil {
		n.fsm.applied.Store(idx)
	}
	n.raft, err = raft.NewRaft(n.raftConfig(hlog), n.fsm, cache, n.store, snaps, n.trans)
	if err != nil {
		return fmt.Errorf("consensus: start raft: %w", err)
	}
	n.leaderCh = make(chan raft.Observation, 16)
	n.raft.RegisterObserver(raft.NewObserver(n.leaderCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	}))
	if cfg.Bootstrap {
		return n.bootstrap()
	}
	return nil
}

// raftConfig sets every safety-relevant field explicitly rather than
// trusting raft.DefaultConfig (CONTRIBUTING.md, "Configuration").
func (n *Node) raftConfig(hlog hclog.Logger) *raft.Config {
	t := n.cfg.Timings
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(n.cfg.NodeID)
	c.ProtocolVersion = raft.ProtocolVersionMax
	c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout, c.CommitTimeout = t.Heartbeat, t.Election, t.LeaderLease, t.Commit
	c.MaxAppendEntries = t.MaxAppendEntries
	c.TrailingLogs, c.SnapshotThreshold, c.SnapshotInterval = t.TrailingLogs, t.SnapshotThreshold, t.SnapshotInterval
	c.BatchApplyCh = false            // keep Apply's timeout meaningful
	c.PreVoteDisabled = false         // pre-vote on: a partitioned node cannot disrupt the term
	c.NoSnapshotRestoreOnStart = true // the ledger persists its own state; see catchUpFromSnapshot
	// RestoreCommittedLogs stays off: in raft v1.8.0, NewRaft replays the
	// committed logs and then scans for configuration entries only after
	// them, so a restarted node forgets its peers ("no known peers",
	// found by TestRestartAllOnPersistedState). The ledger already skips
	// replayed entries by its own applied index, so nothing is lost.
	c.RestoreCommittedLogs = false
	c.Logger = hlog
	return c
}

// catchUpFromSnapshot restores the ledger from the newest Raft snapshot
// that passes its checks if the ledger is behind it (e.g. ledger.db was
// damaged and moved aside). Raft is told not to restore on start because
// the ledger normally already holds every entry up to its own last
// applied index. A snapshot that is refused (damaged, or not the
// federation's) is moved aside and the next older one tried.
func (n *Node) catchUpFromSnapshot(snaps raft.SnapshotStore) error {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return err
	}
	applied, err := n.l.LastApplied()
	if err != nil {
		return err
	}
	if list[0].Index <= applied {
		return nil
	}
	var errs []error
	for _, meta := range list {
		n.log.Warn("ledger is behind the newest snapshot; restoring it", "ledger_applied", applied, "snapshot_index", meta.Index, "snapshot", meta.ID)
		err := n.restoreSnapshot(snaps, meta.ID)
		if err == nil {
			return nil
		}
		n.log.Error("snapshot refused; trying an older one", "snapshot", meta.ID, "err", err)
		errs = append(errs, fmt.Errorf("snapshot %s: %w", meta.ID, err))
		if errors.Is(err, ledger.ErrBadSnapshot) {
			n.moveSnapshotAside(meta.ID)
		}
	}
	return fmt.Errorf("%w: %w", errNoUsableSnapshot, errors.Join(errs...))
}

func (n *Node) restoreSnapshot(snaps raft.SnapshotStore, id string) error {
	_, rc, err := snaps.Open(id)
	if err != nil {
		return err
	}
	defer rc.Close()
	return n.restoreCarried(rc)
}

// moveSnapshotAside keeps a refused snapshot for forensics, out of Raft's
// way (raft's file store lists every folder under snapshots/).
func (n *Node) moveSnapshotAside(id string) {
	dir := filepath.Join(n.cfg.DataDir, "snapshots")
	aside := filepath.Join(n.cfg.DataDir, "snapshots-refused")
	if err := os.MkdirAll(aside, 0o700); err == nil {
		err = os.Rename(filepath.Join(dir, id), filepath.Join(aside, id))
		if err == nil {
			n.log.Warn("refused snapshot moved aside", "snapshot", id, "moved_to", filepath.Join(aside, id))
			return
		}
		n.log.Error("moving a refused snapshot aside", "snapshot", id, "err", err)
	}
}

// verifySnapshot compares a snapshot's ledger with the co-signed
// checkpoints this node holds: at every checkpoint size the snapshot
// covers, its root and state hash must be the quorum's, and at every
// size it covers that this node's ledger also holds, the root must be
// ours (the tree is append-only).
func (n *Node) verifySnapshot(h ledger.SnapshotHeader, sl *ledger.Ledger) error {
	ours, err := n.l.GenesisHash()
	if err != nil {
		return err
	}
	if g, err := sl.GenesisHash(); err != nil || g != ours {
		return fmt.Errorf("snapshot is of another federation (genesis %s, ours %s)", g, ours)
	}
	for _, cp := range n.cps.cosignedUpTo(h.Size) {
		root, err1 := sl.RootAt(cp.Size)
		state, err2 := sl.StateHashAt(cp.Size)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if root != cp.Root || state != cp.StateHash {
			return fmt.Errorf("at co-signed size %d the snapshot has root %s state %s; the quorum signed root %s state %s",
				cp.Size, root, state, cp.Root, cp.StateHash)
		}
	}
	if head, err := n.l.Head(); err == nil && head.Size > 0 {
		size := min(head.Size, h.Size)
		mine, err1 := n.l.RootAt(size)
		theirs, err2 := sl.RootAt(size)
		if errors.Join(err1, err2) == nil && mine != theirs {
			return fmt.Errorf("at size %d the snapshot's root %s differs from this ledger's %s", size, theirs, mine)
		}
	}
	return nil
}

// checkAppliedIndex compares the ledger's last applied Raft index with
// the Raft log: the FSM applies only entries of this node's log, and a
// snapshot holds exactly the state at its index, so the ledger can never
// be ahead of the log's last index. A ledger that is says its applied
// index was changed (or the Raft log replaced), and would skip entries.
func (n *Node) checkAppliedIndex() error {
	applied, err := n.l.LastApplied()
	if err != nil {
		return err
	}
	last, err := n.store.LastIndex()
	if err != nil {
		return err
	}
	if applied > last && last > 0 {
		return &ledger.Damage{Bucket: "local", Problem: "the ledger's last applied Raft index is beyond the Raft log's last index",
			Expected: fmt.Sprintf("at most %d", last), Found: fmt.Sprint(applied)}
	}
	return nil
}

// FoundingServers derives the initial Raft configuration from the registry:
// every registered node in agency-id order, the first votersMax as voters.
// Every founding node computes the same list, so each may bootstrap.
func FoundingServers(l *ledger.Ledger, votersMax int) ([]raft.Server, error) {
	ags, err := l.Agencies()
	if err != nil {
		return nil, err
	}
	var out []raft.Server
	for _, a := range ags {
		if a.Status != "active" {
			continue
		}
		for _, nd := range a.Nodes {
			s := raft.Server{ID: raft.ServerID(nd.ID), Address: raft.ServerAddress(nd.Address), Suffrage: raft.Voter}
			if len(out) >= votersMax {
				s.Suffrage = raft.Nonvoter
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func (n *Node) bootstrap() error {
	// BootstrapCluster refuses (ErrCantBootstrap) once there is any Raft
	// state, so a restart never re-bootstraps.
	servers, err := FoundingServers(n.l, n.cfg.VotersMax)
	if err != nil {
		return err
	}
	found, voter := false, false
	for _, s := range servers {
		if string(s.ID) == n.cfg.NodeID {
			found, voter = true, s.Suffrage == raft.Voter
		}
	}
	if !found {
		return fmt.Errorf("consensus: node %s is not a founding node in the genesis; start it without bootstrap to join", n.cfg.NodeID)
	}
	if !voter {
		return nil // founding nonvoters receive the configuration from the voters
	}
	err = n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	if errors.Is(err, raft.ErrCantBootstrap) {
		return nil
	}
	return err
}

// authorize maps a peer's TLS key to a registered node id, or refuses it.
func (n *Node) authorize(pub ed25519.PublicKey) (string, error) {
	nk, err := n.l.NodeByKey(ledger.EncodePublicKey(pub))
	if err != nil {
		return "", fmt.Errorf("consensus: peer key is not a registered node key: %w", err)
	}
	return nk.NodeID, nil
}

// registeredAt names the node the ledger's registry places at addr, so a
// dial there is answered by that node and no other registered one.
func (n *Node) registeredAt(addr string) (string, bool) {
	ags, err := n.l.Agencies()
	if err != nil {
		return "", false
	}
	for _, ag := range ags {
		for _, nd := range ag.Nodes {
			if nd.Address == addr {
				return nd.ID, true
			}
		}
	}
	return "", false
}

// Close stops the background jobs, Raft, the transport and the stores, and
// waits for every goroutine the node started. Idempotent.
func (n *Node) Close() error {
	if n.ctx.Err() != nil {
		return nil
	}
	n.handOver()
	n.cancel()
	var errs []error
	if n.raft != nil {
		errs = append(errs, n.raft.Shutdown().Error())
	}
	errs = append(errs, n.closeParts())
	n.wg.Wait()
	return errors.Join(errs...)
}

// await waits for a raft future, but no longer than ctx or the node's life.
// hashicorp/raft v1.8 leaves some futures unanswered when it shuts down:
// VerifyLeader's is queued on a buffered channel no loop reads any more,
// and futures handed to the FSM are dropped with its queue. A bare
// f.Error() on one of them never returns, and a handler blocked there held
// up Close for good (found by the linearizability nemesis, which restarts
// nodes under load). The goroutine left waiting on such a future ends with
// the process. ErrClosed means the node is closing.
func (n *Node) await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.ctx.Done():
		return ErrClosed
	}
}

func (n *Node) closeParts() error {
	var errs []error
	if n.trans != nil {
		errs = append(errs, n.trans.Close())
	}
	if n.layer != nil {
		errs = append(errs, n.layer.Close())
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	return errors.Join(errs...)
}

// handOver transfers leadership to the most caught-up voter before a
// leader stops, so the federation has a leader again in one round trip
// instead of waiting out the election timeout with writes stalled. It
// waits at most two election timeouts; a leader without another voter
// just stops.
func (n *Node) handOver() {
	if n.raft == nil || n.raft.State() != raft.Leader {
		return
	}
	done := make(chan error, 1)
	go func() { done <- n.raft.LeadershipTransfer().Error() }()
	select {
	case err := <-done:
		if err != nil {
			n.log.Info("stopping as leader without a handover", "err", err)
			return
		}
		_, id := n.raft.LeaderWithID()
		n.log.Info("leadership handed over before stopping", "to", id)
	case <-time.After(2 * n.cfg.Timings.Election):
		n.log.Warn("leadership handover did not finish before stopping", "waited", 2*n.cfg.Timings.Election)
	}
}

// Raft exposes the underlying raft for tests and operator tooling.
func (n *Node) Raft() *raft.Raft { return n.raft }

// Addr is the node's QUIC address.
func (n *Node) Addr() net.Addr { return n.layer.Addr() }

// cachedStore puts raft's log cache in front of the bbolt store and keeps
// the store's commit tracking visible to raft (LogCache does not forward it).
type cachedStore struct {
	*raft.LogCache
	commit raft.CommitTrackingLogStore
}

// StageCommitIndex forwards to the store.
func (c *cachedStore) StageCommitIndex(i uint64) error { return c.commit.StageCommitIndex(i) }

// GetCommitIndex forwards to the store.
func (c *cachedStore) GetCommitIndex() (uint64, error) { return c.commit.GetCommitIndex() }

// snapshotAgeLoop takes a snapshot every SnapshotMaxAge if entries were
// applied since the last one: raft snapshots by entry count only, so a
// quiet federation could go weeks without one, and a backup copied from
// the newest snapshot would be that old.
func (n *Node) snapshotAgeLoop() {
	n.every(n.cfg.Timings.SnapshotMaxAge, func() {
		last, _ := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
		if n.fsm.applied.Load() <= last {
			return
		}
		if err := n.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			n.log.Warn("snapshot by age", "err", err)
			return
		}
		n.log.Info("snapshot taken by age", "max_age", n.cfg.Timings.SnapshotMaxAge, "applied", n.fsm.applied.Load())
	})
}

// every calls f every interval until the node closes.
func (n *Node) every(interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		f()
	}
}
