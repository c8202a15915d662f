package consensus

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raaft/raaft/ledger"
)

// Checkpoints: each node signs its head (genesis, size, root, state hash)
// with its agency key and sends the signature to every registered node. A
// node that receives a signature for a size it holds checks the root and
// the state hash against its own ledger's at that size: a mismatch is
// never co-signed, and once more than half of the active agencies have
// signed a head that differs from this node's at the same size, this node
// has diverged (Config.OnDivergence). Otherwise it adds its own agency's
// signature for the same size, so the federation converges on co-signed
// heads. A head signed by more than half of the active agencies is what an
// auditor trusts: those are kept in checkpoints.json beside raft.db, so
// they survive restarts, and are served by the API.
const (
	checkpointsKeptMax      = 16 // tree sizes remembered in memory
	checkpointsPersistedMax = 64 // quorum-cosigned checkpoints kept in checkpoints.json
	checkpointSendTimout    = 2 * time.Second
	checkpointQueueMax      = 64
	checkpointsFile         = "checkpoints.json"
)

// CheckpointSignature is one agency's signature over a tree head.
type CheckpointSignature struct {
	Agency    string      `json:"agency"`
	NodeID    string      `json:"node_id"`
	Size      uint64      `json:"size"`
	Root      ledger.Hash `json:"root"`
	StateHash ledger.Hash `json:"state_hash"`
	JWS       string      `json:"jws"` // compact JWS over ledger.CheckpointBody
}

// Checkpoint is a tree head with every agency signature collected for it.
type Checkpoint struct {
	Size           uint64                `json:"size"`
	Root           ledger.Hash           `json:"root"`
	StateHash      ledger.Hash           `json:"state_hash"`
	Signatures     []CheckpointSignature `json:"signatures"`
	QuorumCosigned bool                  `json:"quorum_cosigned"`
}

type checkpoints struct {
	n       *Node
	mu      sync.Mutex
	bySize  map[uint64]*Checkpoint
	pending chan CheckpointSignature // our own new signatures to send
	signed  atomic.Uint64            // signatures this node made (CheckpointsSigned)
	// kept: quorum-cosigned checkpoints, newest last, as in checkpoints.json
	kept  []*Checkpoint
	dirty bool // kept changed since checkpoints.json was written
	// against: per size and per head differing from ours, the signatures
	// of the agencies that signed it
	against  map[uint64]map[headKey]map[string]CheckpointSignature
	diverged atomic.Bool
}

// CheckpointsSigned is how many checkpoint signatures this node has made.
func (n *Node) CheckpointsSigned() uint64 { return n.cps.signed.Load() }

func newCheckpoints(n *Node) *checkpoints {
	c := &checkpoints{n: n, bySize: map[uint64]*Checkpoint{}, pending: make(chan CheckpointSignature, checkpointQueueMax),
		against: map[uint64]map[headKey]map[string]CheckpointSignature{}}
	c.load()
	return c
}

// loop signs the head every CheckpointInterval and sends our signatures.
func (c *checkpoints) loop() {
	t := time.NewTicker(c.n.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-c.n.ctx.Done():
			return
		case s := <-c.pending:
			c.send(s)
		case <-t.C:
			head, err := c.n.l.Head()
			if err == nil && head.Size > 0 && !c.diverged.Load() {
				c.cosign(head.Size, head.Root, head.StateHash)
			}
			c.cosignPending()
			c.persist()
		}
	}
}

// cosign adds our agency's signature for (size, root) unless we already
// signed it or the size is older than every size we keep.
func (c *checkpoints) cosign(size uint64, root, state ledger.Hash) {
	agency := c.n.cfg.Signer.Agency()
	c.mu.Lock()
	cp := c.bySize[size]
	signed := cp != nil && slices.ContainsFunc(cp.Signatures, func(s CheckpointSignature) bool { return s.Agency == agency })
	stale := c.staleLocked(size)
	c.mu.Unlock()
	if signed || stale {
		return
	}
	s, err := c.sign(size, root, state)
	if err != nil {
		c.n.log.Warn("checkpoint sign", "err", err)
		return
	}
	c.signed.Add(1)
	c.add(s)
	select {
	case c.pending <- s:
	default: // the loop is behind; the next tick signs a newer head anyway
	}
}

func (c *checkpoints) sign(size uint64, root, state ledger.Hash) (CheckpointSignature, error) {
	g, err := c.n.l.GenesisHash()
	if err != nil {
		return CheckpointSignature{}, err
	}
	b := ledger.CheckpointBody{Genesis: g, Size: size, Root: root, StateHash: state}.Encode()
	jws, err := c.n.cfg.Signer.Sign(b)
	if err != nil {
		return CheckpointSignature{}, err
	}
	return CheckpointSignature{Agency: c.n.cfg.Signer.Agency(), NodeID: c.n.cfg.NodeID, Size: size, Root: root, StateHash: state, JWS: string(jws)}, nil
}

// cosignPending signs sizes other agencies signed that we have since reached.
func (c *checkpoints) cosignPending() {
	h, err := c.n.l.Head()
	if err != nil {
		return
	}
	type head struct {
		size        uint64
		root, state ledger.Hash
	}
	// collect under the lock: eviction may drop sizes as soon as it is released
	c.mu.Lock()
	var todo []head
	for size, cp := range c.bySize { //det:ok not the ledger; order does not matter
		if size <= h.Size {
			todo = append(todo, head{size, cp.Root, cp.StateHash})
		}
	}
	c.mu.Unlock()
	for _, t := range todo {
		if c.matches(t.size, t.root, t.state) == nil {
			c.cosign(t.size, t.root, t.state)
		}
	}
}

// receive verifies a signature from a peer and records it.
func (c *checkpoints) receive(s CheckpointSignature) error {
	ag, err := c.n.l.Agency(s.Agency)
	if err != nil || ag.Status != "active" {
		return fmt.Errorf("checkpoint from %q: not an active agency", s.Agency)
	}
	if err := verifyCheckpoint(&ag, s, c.n.l); err != nil {
		return err
	}
	if head, err := c.n.l.Head(); err == nil && s.Size <= head.Size {
		if err := c.matches(s.Size, s.Root, s.StateHash); err != nil {
			c.n.log.Error("DIVERGENCE: a peer signed a head that differs from ours at a size we hold",
				"agency", s.Agency, "node", s.NodeID, "size", s.Size, "their_root", s.Root, "their_state_hash", s.StateHash, "err", err)
			c.countAgainst(s)
			return fmt.Errorf("checkpoint size %d: %w", s.Size, err)
		}
		c.add(s)
		if !c.diverged.Load() {
			c.cosign(s.Size, s.Root, s.StateHash)
		}
		return nil
	}
	c.add(s)
	return nil
}

// matches compares a head with this ledger's at the same size.
func (c *checkpoints) matches(size uint64, root, state ledger.Hash) error {
	mine, err := c.n.l.RootAt(size)
	if err != nil {
		return err
	}
	if mine != root {
		return fmt.Errorf("root %s differs from ours %s", root, mine)
	}
	st, err := c.n.l.StateHashAt(size)
	if err != nil {
		return err
	}
	if st != state {
		return fmt.Errorf("state hash %s differs from ours %s", state, st)
	}
	return nil
}

// headKey is a head at one size: its root and state hash.
type headKey struct{ root, state ledger.Hash }

// countAgainst records an agency's signature of a head that differs from
// ours. Once more than half of the active agencies have signed the same
// other head at one size, this node has diverged: the quorum's ledger is
// not the one it holds. That head, with the quorum's signatures, is kept
// (checkpoints.json), so that a rebuild refuses any snapshot that
// disagrees with it, this node's own included.
func (c *checkpoints) countAgainst(s CheckpointSignature) {
	active := c.activeAgencies()
	c.mu.Lock()
	heads := c.against[s.Size]
	if heads == nil {
		heads = map[headKey]map[string]CheckpointSignature{}
		c.against[s.Size] = heads
		for size := range c.against { //det:ok bounding a map, order does not matter
			if len(c.against) > checkpointsKeptMax && size < s.Size {
				delete(c.against, size)
			}
		}
	}
	k := headKey{s.Root, s.StateHash}
	if heads[k] == nil {
		heads[k] = map[string]CheckpointSignature{}
	}
	heads[k][s.Agency] = s
	quorum := len(heads[k])*2 > active
	if quorum {
		cp := &Checkpoint{Size: s.Size, Root: s.Root, StateHash: s.StateHash, QuorumCosigned: true}
		for _, sig := range heads[k] { //det:ok sorted below
			cp.Signatures = append(cp.Signatures, sig)
		}
		slices.SortFunc(cp.Signatures, func(a, b CheckpointSignature) int { return cmp.Compare(a.Agency, b.Agency) })
		c.keepLocked(cp)
	}
	c.mu.Unlock()
	if quorum {
		c.persist()
	}
	if quorum && c.diverged.CompareAndSwap(false, true) {
		d := Divergence{Size: s.Size, QuorumRoot: s.Root, QuorumStateHash: s.StateHash}
		d.Root, _ = c.n.l.RootAt(s.Size)
		d.StateHash, _ = c.n.l.StateHashAt(s.Size)
		c.n.log.Error("DIVERGED: more than half of the active agencies signed a head that differs from this ledger's; this node stops serving",
			"size", d.Size, "quorum_root", d.QuorumRoot, "quorum_state_hash", d.QuorumStateHash, "our_root", d.Root, "our_state_hash", d.StateHash)
		if c.n.cfg.OnDivergence != nil {
			c.n.cfg.OnDivergence(d)
		}
	}
}

// Divergence is what a node learns when a quorum signed another head at
// a size it holds.
type Divergence struct {
	Size            uint64
	Root, StateHash ledger.Hash // this node's
	QuorumRoot      ledger.Hash
	QuorumStateHash ledger.Hash
}

// Diverged reports whether this node's ledger has been found to differ
// from the quorum's (it then never signs or co-signs again).
func (n *Node) Diverged() bool { return n.cps.diverged.Load() }

func (c *checkpoints) activeAgencies() int {
	ags, err := c.n.l.Agencies()
	active := 0
	if err == nil {
		for _, a := range ags {
			if a.Status == "active" {
				active++
			}
		}
	}
	return active
}

func verifyCheckpoint(ag *ledger.Agency, s CheckpointSignature, l *ledger.Ledger) error {
	g, err := l.GenesisHash()
	if err != nil {
		return err
	}
	want := ledger.CheckpointBody{Genesis: g, Size: s.Size, Root: s.Root, StateHash: s.StateHash}.Encode()
	for _, k := range ag.Keys {
		if !k.Active {
			continue
		}
		pub, err := decodeKey(k.PublicKey)
		if err != nil {
			continue
		}
		if body, err := ledger.VerifyCompact([]byte(s.JWS), pub); err == nil {
			if string(body) != string(want) {
				return fmt.Errorf("checkpoint from %s: signed body does not match size %d root %s state hash %s", s.Agency, s.Size, s.Root, s.StateHash)
			}
			return nil
		}
	}
	return fmt.Errorf("checkpoint from %s: signature does not verify with its active key", s.Agency)
}

func decodeKey(s string) (ed25519.PublicKey, error) {
	b, err := b64url.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("bad key")
	}
	return ed25519.PublicKey(b), nil
}

// staleLocked reports whether size is older than every size kept while
// the window is full. Such a size is neither kept nor signed: it would be
// evicted at once, and signing it again for every peer signature that
// named it (each of which the peers, having evicted it too, answered by
// signing it again) kept three nodes re-signing old sizes to each other
// for as long as they ran.
func (c *checkpoints) staleLocked(size uint64) bool {
	if _, ok := c.bySize[size]; ok || len(c.bySize) < checkpointsKeptMax {
		return false
	}
	for kept := range c.bySize { //det:ok finding whether any is older
		if kept < size {
			return false
		}
	}
	return true
}

// add records a signature, one per agency per size, keeping the newest sizes.
func (c *checkpoints) add(s CheckpointSignature) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.staleLocked(s.Size) {
		return
	}
	cp := c.bySize[s.Size]
	if cp == nil {
		cp = &Checkpoint{Size: s.Size, Root: s.Root, StateHash: s.StateHash}
		c.bySize[s.Size] = cp
		c.evict()
	}
	if cp.Root != s.Root || cp.StateHash != s.StateHash || slices.ContainsFunc(cp.Signatures, func(x CheckpointSignature) bool { return x.Agency == s.Agency }) {
		return
	}
	cp.Signatures = append(cp.Signatures, s)
	slices.SortFunc(cp.Signatures, func(a, b CheckpointSignature) int { return cmp.Compare(a.Agency, b.Agency) })
}

func (c *checkpoints) evict() {
	for len(c.bySize) > checkpointsKeptMax {
		oldest := ^uint64(0)
		for size := range c.bySize { //det:ok finding a minimum
			oldest = min(oldest, size)
		}
		delete(c.bySize, oldest)
	}
}

// latest returns the newest checkpoint and the newest quorum-cosigned one.
func (c *checkpoints) latest() (newest, cosigned *Checkpoint) {
	active := c.activeAgencies()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cp := range c.bySize { //det:ok selecting maxima
		cp.QuorumCosigned = len(cp.Signatures)*2 > active
		if newest == nil || cp.Size > newest.Size {
			newest = cp
		}
		if cp.QuorumCosigned && (cosigned == nil || cp.Size > cosigned.Size) {
			cosigned = cp
		}
	}
	if n := len(c.kept); n > 0 && (cosigned == nil || c.kept[n-1].Size > cosigned.Size) {
		cosigned = c.kept[n-1] // from checkpoints.json, after a restart
	}
	return clone(newest), clone(cosigned)
}

func clone(cp *Checkpoint) *Checkpoint {
	if cp == nil {
		return nil
	}
	c := *cp
	c.Signatures = slices.Clone(cp.Signatures)
	return &c
}

// send delivers our signature to every other registered node, best effort.
func (c *checkpoints) send(s CheckpointSignature) {
	ags, err := c.n.l.Agencies()
	if err != nil {
		return
	}
	for _, a := range ags {
		for _, nd := range a.Nodes {
			if nd.ID == c.n.cfg.NodeID || a.Status != "active" {
				continue
			}
			ctx, cancel := context.WithTimeout(c.n.ctx, checkpointSendTimout)
			conn, err := c.n.layer.DialRPC(ctx, nd.Address)
			if err == nil {
				_, err = call(conn, deadlineOf(ctx), &rpcRequest{Op: opCheckpoint, Checkpoint: &s})
			}
			cancel()
			if err != nil {
				c.n.log.Debug("checkpoint send", "to", nd.ID, "err", err)
			}
		}
	}
}
