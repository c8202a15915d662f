package node

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/raaft/raaft/config"
	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// Daemon is one running agency node: ledger, consensus and the HTTPS API,
// wired from a Config. It is the Main of this program: `raaft node run`
// and the whole-binary tests start the same thing.
type Daemon struct {
	cfg    config.Config
	log    *slog.Logger
	ledger *ledger.Ledger
	// cons is replaced when the ledger is rebuilt in place (repair.go)
	cons   atomic.Pointer[consensus.Node]
	http   *http.Server
	ln     net.Listener
	served chan error

	accessLog   io.Closer
	jwks        *RemoteJWKS // when auth.jwks is a URL
	collectors  []prometheus.Collector
	signer      *ledger.Signer
	inactiveKey sync.Once // warned that the agency key is no longer active
	repair      repairer  // stops serving and rebuilds a damaged or diverged ledger (repair.go)
}

// Start opens the ledger (applying the genesis on first start), joins or
// forms the Raft cluster, and starts serving the API. It returns once the
// API is listening; Ready reports when the node has caught up. collectors
// are served on /metrics with the API's own.
func Start(cfg config.Config, logger *slog.Logger, collectors ...prometheus.Collector) (*Daemon, error) {
	d := &Daemon{cfg: cfg, log: logger, served: make(chan error, 1)}
	d.repair.init(d)
	d.collectors = append(slices.Clone(collectors), d.repair.collectors()...)
	d.collectors = append(d.collectors, newRaftGauges(d.cons.Load))
	if err := d.open(); err != nil {
		d.closeAll()
		return nil, err
	}
	return d, nil
}

// openLedger opens ledger.db with deferred sync: its commits skip fsync
// and the Raft log is the durable record (see ledger's "Deferred sync").
// A file written that way before the machine restarted cannot be trusted;
// it is moved aside and the ledger rebuilt: the genesis here, then the
// newest Raft snapshot (consensus.Open) and the Raft log replayed by Raft.
func (d *Daemon) openLedger(path string) (*ledger.Ledger, error) {
	if reason := markedReason(path); reason != "" {
		d.log.Error("ledger.db was found damaged or different from the federation's before the node stopped, and not yet rebuilt; moving it aside and rebuilding it", "reason", reason)
		if err := d.moveLedgerAside(path, reason); err != nil {
			return nil, err
		}
		os.Remove(path + repairMarker)
	}
	l, err := d.openChecked(path)
	if why := asideReason(err); why != "" {
		// a file the node cannot trust is never served: it is kept for
		// forensics and the ledger rebuilt from the genesis, the newest
		// verified Raft snapshot and the Raft log (consensus.Open)
		if why == "unsynced" {
			d.log.Warn("ledger.db was written without fsync and the machine has restarted since; moving it aside and rebuilding the ledger from the Raft snapshot and log", "reason", err)
		} else {
			d.log.Error("ledger.db is damaged and will not be served; moving it aside and rebuilding the ledger from the Raft snapshot and log", "damage", err)
		}
		if err := d.moveLedgerAside(path, why); err != nil {
			return nil, err
		}
		l, err = d.openChecked(path)
	}
	if errors.Is(err, ledger.ErrFormat) {
		return nil, fmt.Errorf("%w; the data directory %s was written by another version of raaft: restore a backup made by this version, or start afresh on an empty data directory (for raaft dev up, remove its directory: make clean)", err, d.cfg.Node.DataDir)
	}
	return l, err
}

// asideReason names why a ledger.db that failed to open or to pass its
// check must be set aside ("damaged", "unsynced"), or "" if it must not
// (a lock held by a running node, a file of another format).
func asideReason(err error) string {
	switch {
	case ledger.IsDamage(err):
		return "damaged"
	case errors.Is(err, ledger.ErrUnsynced):
		return "unsynced"
	}
	return ""
}

// openChecked opens ledger.db and checks what it will serve
// (CheckIntegrity from the newest co-signed checkpoint it matches).
func (d *Daemon) openChecked(path string) (*ledger.Ledger, error) {
	l, err := ledger.Open(path, ledger.Options{NoSync: d.cfg.Raft.NoSync, DeferSync: true})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	from, err := d.verifiedCheckpoint(l)
	if err == nil {
		err = l.CheckIntegrity(from)
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	d.log.Info("ledger opened and checked", "path", path, "deferred_sync", l.Deferred(), "checked_from_seq", from, "check_ms", time.Since(start).Milliseconds())
	return l, nil
}

// asideSuffix is the suffix a ledger.db set aside for why gets.
func asideSuffix(why string) string {
	return "." + why + "-" + time.Now().UTC().Format("20060102T150405Z")
}

// moveLedgerAside keeps a damaged or diverged ledger.db for forensics
// (ledger.db.<why>-<time>) and leaves the path free for a rebuilt one.
func (d *Daemon) moveLedgerAside(path, why string) error {
	suffix := asideSuffix(why)
	if err := ledger.MoveAside(path, suffix); err != nil {
		return err
	}
	d.log.Warn("ledger.db moved aside", "moved_to", path+suffix)
	return nil
}

// verifiedCheckpoint is the size of the newest co-signed checkpoint
// (checkpoints.json) whose root and state hash this ledger has at that
// size: the entries below it are the federation's, so the integrity check
// at open rehashes only the entries from there on; 0 (check every entry)
// when there is none. A ledger that differs from such a checkpoint is
// damaged, whatever else it agrees with.
func (d *Daemon) verifiedCheckpoint(l *ledger.Ledger) (uint64, error) {
	g, cps, err := consensus.ReadCheckpoints(filepath.Join(d.cfg.Node.DataDir, "raft"))
	mine, gerr := l.GenesisHash()
	if err != nil || gerr != nil || g != mine {
		return 0, nil
	}
	head, err := l.Head()
	if err != nil {
		return 0, err
	}
	for i := len(cps) - 1; i >= 0; i-- {
		cp := cps[i]
		if cp.Size > head.Size || !cp.QuorumCosigned {
			continue
		}
		root, err1 := l.RootAt(cp.Size)
		state, err2 := l.StateHashAt(cp.Size)
		if err1 == nil && err2 == nil && root == cp.Root && state == cp.StateHash {
			return cp.Size, nil
		}
		seq := cp.Size - 1
		return 0, &ledger.Damage{Seq: &seq, Problem: "the ledger differs from a checkpoint the federation co-signed at this size",
			Expected: fmt.Sprintf("root %s state %s", cp.Root, cp.StateHash), Found: fmt.Sprintf("root %s state %s", root, state)}
	}
	return 0, nil
}

func (d *Daemon) open() error {
	cfg := d.cfg
	agencyKey, err := ReadKeyFile(cfg.Node.AgencyKeyFile)
	if err != nil {
		return err
	}
	nodeKey, err := ReadKeyFile(cfg.Node.NodeKeyFile)
	if err != nil {
		return err
	}
	genesis, err := os.ReadFile(cfg.Node.GenesisFile)
	if err != nil {
		return fmt.Errorf("node.genesis_file: %w", err)
	}
	if err := os.MkdirAll(cfg.Node.DataDir, 0o700); err != nil {
		return err
	}
	if d.ledger, err = d.openLedger(filepath.Join(cfg.Node.DataDir, "ledger.db")); err != nil {
		return err
	}
	if err := d.ledger.InitGenesis(genesis); err != nil {
		return fmt.Errorf("genesis %s: %w", cfg.Node.GenesisFile, err)
	}
	signer, err := ledger.NewSigner(cfg.Node.Agency, agencyKey)
	if err != nil {
		return err
	}
	d.signer = signer
	d.ledger.TrustOwnSignatures(signer)
	founding, err := consensus.FoundingServers(d.ledger, cfg.Raft.VotersMax)
	if err != nil {
		return err
	}
	d.repair.genesis = genesis
	d.repair.consCfg = consensus.Config{
		NodeID: cfg.Node.ID, DataDir: filepath.Join(cfg.Node.DataDir, "raft"), Signer: signer, NodeKey: nodeKey,
		BindAddr: cfg.Raft.BindAddr, AdvertiseAddr: cfg.Raft.AdvertiseAddr, Timings: timings(cfg), VotersMax: cfg.Raft.VotersMax,
		NoSync: cfg.Raft.NoSync, Bootstrap: slices.ContainsFunc(founding, func(s raft.Server) bool { return string(s.ID) == cfg.Node.ID }),
		ForwardTimeout: cfg.Forward.Timeout, ExpireInterval: cfg.Housekeeping.ExpireInterval, CheckpointInterval: cfg.Housekeeping.CheckpointInterval,
		Logger: d.log, RaftLogOutput: os.Stderr, OnDivergence: d.repair.diverged,
	}
	n, err := d.openConsensus(genesis)
	if err != nil {
		return err
	}
	d.cons.Store(n)
	if err := d.serve(); err != nil {
		return err
	}
	d.repair.start()
	return nil
}

// openConsensus opens the Raft node. If it finds the ledger inconsistent
// with the Raft log (an applied index beyond the log), the ledger is
// damaged: it is moved aside, rebuilt from the genesis, and Raft opened
// again, which restores the newest verified snapshot and replays the log.
func (d *Daemon) openConsensus(genesis []byte) (*consensus.Node, error) {
	cc := d.repair.consCfg
	cc.Ledger = d.ledger
	n, err := consensus.Open(cc)
	if !ledger.IsDamage(err) {
		return n, err
	}
	d.log.Error("ledger.db disagrees with the Raft log and will not be served; moving it aside and rebuilding it", "damage", err)
	suffix := asideSuffix("damaged")
	if err := d.ledger.Rebuild(suffix, genesis); err != nil {
		return nil, err
	}
	d.log.Warn("ledger.db moved aside", "moved_to", filepath.Join(d.cfg.Node.DataDir, "ledger.db")+suffix)
	return consensus.Open(cc)
}

// checkRegistered runs once the node has caught up, so that it reads the
// federation's registry as it is now: at start the node's own copy may be
// behind (a rebuilt ledger holds only the genesis, where a key rotated
// since is missing). A node whose agency key is not one of its agency's
// keys never reports ready, and /readyz says why: better a clear error than
// every write refused.
func (d *Daemon) checkRegistered() error {
	ag, err := d.ledger.Agency(d.cfg.Node.Agency)
	if errors.Is(err, ledger.ErrNotFound) {
		return fmt.Errorf("agency %s is not in the federation's registry: it must be admitted (governance add_agency) before its node can serve", d.cfg.Node.Agency)
	}
	if err != nil {
		return err
	}
	kid := d.signer.KID()
	if !slices.ContainsFunc(ag.Keys, func(k ledger.AgencyKey) bool { return k.KID == kid }) {
		return fmt.Errorf("node.agency_key_file: key %s is not a key of agency %s in the registry", kid, ag.ID)
	}
	if ag.ActiveKID() != kid {
		d.inactiveKey.Do(func() {
			d.log.Warn("node.agency_key_file holds a key the registry no longer has active (a rotation the node stopped before finishing): writes will be refused until `raaft governance rotate-key` finishes it",
				"agency", ag.ID, "kid", kid, "waiting_key_file", KeyFiles{Path: d.cfg.Node.AgencyKeyFile}.NextPath())
		})
	}
	return nil
}

func timings(cfg config.Config) consensus.Timings {
	r := cfg.Raft
	return consensus.Timings{
		Heartbeat: r.HeartbeatTimeout, Election: r.ElectionTimeout, LeaderLease: r.LeaderLeaseTimeout, Commit: r.CommitTimeout,
		MaxAppendEntries: r.MaxAppendEntries, TrailingLogs: uint64(r.TrailingLogs), SnapshotThreshold: uint64(r.SnapshotThreshold),
		SnapshotInterval: r.SnapshotInterval, SnapshotMaxAge: r.SnapshotMaxAge, ApplyTimeout: r.ApplyTimeout,
	}
}

// Readiness. A node is ready when the leader, asked for its commit index
// now, finds this node's FSM at it (within readyWaitMax): caught up with
// the federation, not merely with what it knew when it started. Asked on
// every /readyz, so a node that falls behind later says so.
const (
	readyAskTimeout = 2 * time.Second        // to reach the leader and have it confirm its leadership
	readyWaitMax    = 500 * time.Millisecond // for the FSM to apply what the leader had committed
)

// Ready reports whether the node can serve, and how far it is behind the
// leader.
func (d *Daemon) Ready(ctx context.Context) (protocol.Readiness, error) {
	if p := d.repair.why.Load(); p != nil {
		return protocol.Readiness{}, *p
	}
	return d.catchUp(ctx)
}

// catchUp reports the node's lag behind the leader's commit index, and
// nil once it has none, it is a member of the federation and its agency
// key is registered; or why not.
func (d *Daemon) catchUp(ctx context.Context) (protocol.Readiness, error) {
	cons := d.cons.Load()
	if cons == nil {
		return protocol.Readiness{}, errors.New("starting")
	}
	if err := d.checkMember(cons); err != nil {
		return protocol.Readiness{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, readyAskTimeout)
	defer cancel()
	applied, leader, err := cons.CatchUp(ctx, readyWaitMax)
	r := protocol.Readiness{Status: "ready", AppliedIndex: applied, LeaderIndex: leader}
	if err != nil {
		return r, fmt.Errorf("no leader to compare with (applied %d): %v", applied, err)
	}
	if applied < leader {
		r.LagEntries = leader - applied
		return r, fmt.Errorf("catching up: applied %d of the leader's %d (%d behind)", applied, leader, r.LagEntries)
	}
	return r, d.checkRegistered()
}

// checkMember says so when this node was removed from the federation:
// its agency removed or its node dropped from the registry, or the node
// no longer in the Raft configuration it holds.
func (d *Daemon) checkMember(cons *consensus.Node) error {
	ag, err := d.ledger.Agency(d.cfg.Node.Agency)
	if err == nil && ag.Status != "active" {
		return fmt.Errorf("removed: agency %s is %s in the federation's registry", ag.ID, ag.Status)
	}
	if err == nil && !slices.ContainsFunc(ag.Nodes, func(n ledger.Node) bool { return n.ID == d.cfg.Node.ID }) {
		return fmt.Errorf("removed: node %s is not one of agency %s's nodes in the federation's registry", d.cfg.Node.ID, ag.ID)
	}
	if in, err := cons.InConfiguration(); err == nil && !in {
		return fmt.Errorf("not a member: node %s is not in the federation's Raft configuration (removed, or not yet admitted)", d.cfg.Node.ID)
	}
	return nil
}

// Wait blocks until ctx is done or the API server fails, then shuts down:
// the API drains within api.shutdown_timeout, then Raft and the ledger close.
func (d *Daemon) Wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-d.served:
	}
	return errors.Join(err, d.Shutdown())
}

// Shutdown stops the daemon gracefully. Idempotent.
func (d *Daemon) Shutdown() error {
	var errs []error
	if d.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), d.cfg.API.ShutdownTimeout)
		errs = append(errs, d.http.Shutdown(ctx))
		cancel()
		d.http = nil
	}
	errs = append(errs, d.closeAll())
	return errors.Join(errs...)
}

func (d *Daemon) closeAll() error {
	d.repair.stop() // waits for a rebuild under way, and the periodic check
	var errs []error
	if cons := d.cons.Swap(nil); cons != nil {
		errs = append(errs, cons.Close())
	}
	if d.ledger != nil {
		errs = append(errs, d.ledger.Close())
		d.ledger = nil
	}
	if d.jwks != nil {
		errs = append(errs, d.jwks.Close())
		d.jwks = nil
	}
	if d.accessLog != nil {
		errs = append(errs, d.accessLog.Close())
		d.accessLog = nil
	}
	return errors.Join(errs...)
}

// APIAddr is the address the API listens on.
func (d *Daemon) APIAddr() string { return d.ln.Addr().String() }

// Consensus exposes the consensus node (status, membership) to tooling and tests.
func (d *Daemon) Consensus() *consensus.Node { return d.cons.Load() }

func (d *Daemon) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", d.cfg.API.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("api.listen_addr: %w", err)
	}
	if d.cfg.API.TLSCertFile == "" {
		d.log.Warn("api: serving plain HTTP (no api.tls_cert_file); only for loopback or behind a TLS proxy")
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(d.cfg.API.TLSCertFile, d.cfg.API.TLSKeyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("api.tls_cert_file: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}), nil
}

// serve builds the authenticator and the API server and starts serving.
func (d *Daemon) serve() error {
	cfg := d.cfg
	auth, err := d.authenticator()
	if err != nil {
		return err
	}
	alog, err := os.OpenFile(cfg.AccessLogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("api.access_log_file: %w", err)
	}
	d.accessLog = alog
	srv, err := NewServer(ServerConfig{
		Ledger: d.ledger, Replicator: replicator{d.cons.Load}, Signer: d.signer, Agency: cfg.Node.Agency, NodeID: cfg.Node.ID, Auth: auth, AccessLog: alog,
		BodyBytesMax: cfg.API.BodyBytesMax, WriteTimeout: cfg.Forward.Timeout, Ready: d.Ready, Serving: d.repair.serving, Logger: d.log,
		Collectors: d.collectors, Keys: KeyFiles{Path: cfg.Node.AgencyKeyFile},
	})
	if err != nil {
		return err
	}
	wc := WebConfig{API: srv, Auth: auth, OIDC: cfg.Auth.OIDC}
	if cfg.Auth.DevIssuer {
		if wc.Dev, err = d.DevIssuer(); err != nil {
			return err
		}
	}
	handler, err := NewWebHandler(wc)
	if err != nil {
		return err
	}
	if d.ln, err = d.listen(); err != nil {
		return err
	}
	d.http = &http.Server{Handler: handler, ReadTimeout: cfg.API.ReadTimeout, WriteTimeout: cfg.API.WriteTimeout,
		ReadHeaderTimeout: cfg.API.ReadTimeout, ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
	go func() {
		if err := d.http.Serve(d.ln); !errors.Is(err, http.ErrServerClosed) {
			d.served <- err
		}
	}()
	return nil
}

// authenticator trusts the configured identity provider's JWKS (a file,
// or an https:// URL refreshed every JWKSRefreshDefault) and, when
// auth.dev_issuer is on, the node-local dev issuer (key dev-issuer.key
// beside the agency key).
func (d *Daemon) authenticator() (*Authenticator, error) {
	cfg := d.cfg.Auth
	ac := AuthConfig{Issuer: cfg.Issuer, Audience: cfg.Audience, RoleClaim: cfg.RoleClaim, Skew: cfg.ClockSkew, Agency: d.cfg.Node.Agency}
	switch {
	case strings.HasPrefix(cfg.JWKS, "https://") || strings.HasPrefix(cfg.JWKS, "http://"):
		ctx, cancel := context.WithTimeout(context.Background(), jwksFetchTimeout)
		defer cancel()
		r, err := NewRemoteJWKS(ctx, cfg.JWKS, nil, JWKSRefreshDefault, d.log)
		if err != nil {
			return nil, err
		}
		d.jwks, ac.Remote = r, r
	case cfg.JWKS != "":
		s, err := LoadJWKS(cfg.JWKS)
		if err != nil {
			return nil, err
		}
		ac.Keys = s
	}
	if cfg.DevIssuer {
		di, err := d.DevIssuer()
		if err != nil {
			return nil, err
		}
		if ac.Keys == nil {
			ac.Keys = jwk.NewSet()
		}
		k, _ := di.Keys().Key(0)
		if err := ac.Keys.AddKey(k); err != nil {
			return nil, err
		}
	}
	return NewAuthenticator(ac)
}

// DevIssuer returns the node-local token issuer (key dev-issuer.key next to the agency key).
func (d *Daemon) DevIssuer() (*DevIssuer, error) {
	return LoadDevIssuer(d.cfg)
}

// LoadDevIssuer loads the dev issuer of a node config.
func LoadDevIssuer(cfg config.Config) (*DevIssuer, error) {
	key, err := ReadKeyFile(filepath.Join(filepath.Dir(cfg.Node.AgencyKeyFile), "dev-issuer.key"))
	if err != nil {
		return nil, fmt.Errorf("auth.dev_issuer: %w", err)
	}
	return NewDevIssuer(key, cfg.Auth.Issuer, cfg.Auth.Audience, cfg.Node.Agency)
}

// replicator adapts consensus.Node to the API's Replicator; consensus
// cannot import node, so the conversion of its status lives here. It
// reads the node afresh on every call: a ledger rebuilt in place comes
// with a new consensus node, and between the two there is none
// (consensus.ErrClosed: 503 not_ready).
type replicator struct{ n func() *consensus.Node }

func (r replicator) Propose(ctx context.Context, signed []byte) (ledger.Result, error) {
	n := r.n()
	if n == nil {
		return ledger.Result{}, consensus.ErrClosed
	}
	return n.Propose(ctx, signed)
}

func (r replicator) Barrier(ctx context.Context) error {
	n := r.n()
	if n == nil {
		return consensus.ErrClosed
	}
	return n.Barrier(ctx)
}

func (r replicator) Status() protocol.ClusterStatus {
	n := r.n()
	if n == nil {
		return protocol.ClusterStatus{}
	}
	st := n.Status()
	out := protocol.ClusterStatus{NodeID: st.NodeID, Agency: st.Agency, State: st.State, LeaderID: st.LeaderID, LeaderAddr: st.LeaderAddr,
		Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex, Head: st.Head,
		Checkpoint: checkpointOut(st.Checkpoint), CosignedCheckpoint: checkpointOut(st.CosignedCheckpoint)}
	for _, s := range st.Servers {
		out.Servers = append(out.Servers, protocol.Server(s))
	}
	return out
}

// TransferLeadership hands leadership to another voter, through the
// leader wherever this node is.
func (r replicator) TransferLeadership(ctx context.Context) (protocol.LeadershipTransfer, error) {
	n := r.n()
	if n == nil {
		return protocol.LeadershipTransfer{}, consensus.ErrClosed
	}
	from, to, err := n.TransferLeadership(ctx)
	return protocol.LeadershipTransfer{From: from, To: to}, err
}

// Checkpoints lists the quorum-cosigned checkpoints the node keeps.
func (r replicator) Checkpoints() []protocol.Checkpoint {
	n := r.n()
	if n == nil {
		return nil
	}
	cps := n.Checkpoints()
	out := make([]protocol.Checkpoint, 0, len(cps))
	for i := range cps {
		out = append(out, *checkpointOut(&cps[i]))
	}
	return out
}

func checkpointOut(c *consensus.Checkpoint) *protocol.Checkpoint {
	if c == nil {
		return nil
	}
	out := &protocol.Checkpoint{Size: c.Size, Root: c.Root, StateHash: c.StateHash, QuorumCosigned: c.QuorumCosigned}
	for _, s := range c.Signatures {
		out.Signatures = append(out.Signatures, protocol.CheckpointSignature{
			Agency: s.Agency, NodeID: s.NodeID, KID: jwsKID(s.JWS), Size: s.Size, Root: s.Root, StateHash: s.StateHash, Signature: s.JWS})
	}
	return out
}

// jwsKID returns the kid of a compact JWS's protected header, or "" if it
// has none. It reads the header only: the signature is the reader's to verify.
func jwsKID(compact string) string {
	h, _, _ := strings.Cut(compact, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var hdr struct {
		KID string `json:"kid"`
	}
	if json.Unmarshal(b, &hdr) != nil {
		return ""
	}
	return hdr.KID
}

// ConsensusReplicator adapts a consensus node to the API's Replicator.
func ConsensusReplicator(n *consensus.Node) Replicator {
	return replicator{func() *consensus.Node { return n }}
}
