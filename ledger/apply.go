package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
)

// Envelope kinds and record kinds.
const (
	envelopeVersion = 1
	kindGenesis     = 0
	kindCommand     = 1
	envelopeHdrLen  = 10 // version, kind, time_ms
	recordHdrLen    = 18 // version, kind, seq, time_ms
	// BatchEntriesMax bounds one ApplyBatch call (Raft's MaxAppendEntries is at most 1024).
	BatchEntriesMax = 1024
)

// EncodeEnvelope wraps a signed command with the proposer's time. The
// leader adds the envelope; the FSM takes time only from here.
func EncodeEnvelope(timeMs int64, jws []byte) []byte {
	b := make([]byte, envelopeHdrLen, envelopeHdrLen+len(jws))
	b[0], b[1] = envelopeVersion, kindCommand
	binary.BigEndian.PutUint64(b[2:], uint64(timeMs))
	return append(b, jws...)
}

// DecodeEnvelope splits an envelope into its time and signed command.
func DecodeEnvelope(b []byte) (timeMs int64, jws []byte, err error) {
	if len(b) < envelopeHdrLen || b[0] != envelopeVersion || b[1] != kindCommand {
		return 0, nil, ErrBadEnvelope
	}
	return int64(binary.BigEndian.Uint64(b[2:])), b[envelopeHdrLen:], nil
}

// encodeRecord is the leaf of the Merkle tree and the stored form of an entry.
func encodeRecord(kind byte, seq uint64, timeMs int64, data []byte) []byte {
	b := make([]byte, recordHdrLen, recordHdrLen+len(data))
	b[0], b[1] = envelopeVersion, kind
	binary.BigEndian.PutUint64(b[2:], seq)
	binary.BigEndian.PutUint64(b[10:], uint64(timeMs))
	return append(b, data...)
}

// Record is one accepted ledger entry as stored.
type Record struct {
	Seq       uint64 `json:"seq"`
	Kind      string `json:"kind"` // genesis | command
	TimeMs    int64  `json:"time_ms"`
	Data      []byte `json:"-"` // the signed genesis document or command JWS, exactly as received
	EntryHash Hash   `json:"entry_hash"`
	LeafHash  Hash   `json:"leaf_hash"`

	nodes [][]byte // the tree nodes stored with the entry (Verify recomputes them)
}

func decodeRecord(b []byte) (Record, error) {
	if len(b) < recordHdrLen || b[0] != envelopeVersion || b[1] > kindCommand {
		return Record{}, fmt.Errorf("%w: entry record", ErrCorrupt)
	}
	r := Record{Seq: binary.BigEndian.Uint64(b[2:]), TimeMs: int64(binary.BigEndian.Uint64(b[10:])), Data: b[recordHdrLen:], Kind: "command"}
	if b[1] == kindGenesis {
		r.Kind = "genesis"
	}
	r.LeafHash = LeafHash(b)
	return r, nil
}

// Entry is one Raft log entry handed to ApplyBatch.
type Entry struct {
	Index uint64 // Raft log index; entries at or below the last applied index are skipped
	Data  []byte // an envelope
}

// Result is the outcome of one command: accepted with its place in the
// ledger, or a definite rejection. It is stored, so a retry with the same
// idempotency id returns it unchanged.
type Result struct {
	Accepted  bool       `json:"accepted"`
	Seq       uint64     `json:"seq,omitempty"`
	EntryHash *Hash      `json:"entry_hash,omitempty"`
	Root      *Hash      `json:"root,omitempty"`
	TreeSize  uint64     `json:"tree_size,omitempty"`
	Rejection *Rejection `json:"rejection,omitempty"`
	// Duplicate is set (not stored) when the result is returned for a retry.
	Duplicate bool `json:"duplicate,omitempty"`
	// Skipped is set when the entry was already applied before a restart.
	Skipped bool `json:"skipped,omitempty"`
}

// verified is the outcome of the parallel, pure phase for one entry:
// envelope and JWS parsed, signature checked against the key cache,
// command decoded against the schema.
type verified struct {
	timeMs  int64
	jws     *compactJWS
	keyOK   bool  // kid was known and the signature verified against it
	err     error // envelope or JWS malformed, or signature bad
	cmd     *Command
	payload any
	rj      *Rejection // schema rejection
	done    chan struct{}
}

// ApplyBatch applies Raft log entries in order in one bbolt transaction and
// returns one result per entry. Signatures are verified and commands
// decoded by a pool of goroutines (pure work), while this goroutine
// applies the entries in log order as each becomes ready: authorisation
// and domain rules are checked against the state at that position. A
// returned error means the state could not be written: the caller (the
// FSM) must stop, not skip the batch.
//
// (Committing a long batch in several transactions, so that one commit
// overlaps the verification of the next entries, was measured on the
// 2-core build machine and gained nothing: verification already keeps
// both cores busy, and each extra commit rewrites pages and fsyncs again.)
func (l *Ledger) ApplyBatch(entries []Entry) ([]Result, error) {
	if len(entries) > BatchEntriesMax {
		return nil, fmt.Errorf("ledger: batch of %d entries; at most %d", len(entries), BatchEntriesMax)
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.db == nil {
		return nil, ErrClosed
	}
	pre, stop := l.verifyParallel(entries)
	defer stop()
	results := make([]Result, len(entries))
	var a *applier
	err := l.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta).Get(kGenesisHash) == nil {
			return ErrNoGenesis
		}
		a = newApplier(tx, l)
		if err := a.load(); err != nil {
			return err
		}
		applied := getU64(tx.Bucket(bLocal), kApplied)
		for i, e := range entries {
			<-pre[i].done
			if e.Index != 0 && e.Index <= applied {
				results[i] = Result{Skipped: true}
				continue
			}
			res, err := a.applyOne(&pre[i])
			if err != nil {
				return fmt.Errorf("ledger: apply index %d: %w", e.Index, err)
			}
			results[i] = res
			applied = max(applied, e.Index)
		}
		if err := a.finish(); err != nil {
			return err
		}
		return tx.Bucket(bLocal).Put(kApplied, u64(applied))
	})
	if err != nil {
		return nil, err
	}
	l.afterCommit(a)
	if l.opts.Strict {
		if err := l.db.View(func(tx *bolt.Tx) error {
			touched := make([]Listing, 0, len(a.dirty))
			for _, tok := range a.dirty {
				touched = append(touched, a.dirtySet[tok])
			}
			if err := checkListings(tx, l.cache, touched); err != nil {
				return err
			}
			return checkFeesTouched(tx, &a.fee)
		}); err != nil {
			panic(fmt.Sprintf("ledger: strict mode: invariant broken after batch: %v", err))
		}
	}
	return results, nil
}

// verifyChunkEntries is how many consecutive entries a verifier takes at
// a time: their signatures share one field inversion (finishChecks). The
// applier waits for the whole chunk, so it is kept small.
const verifyChunkEntries = 8

// verifyParallel starts a bounded pool verifying entries in index order,
// a chunk at a time; each entry's done channel closes when it is ready.
// stop waits for the pool (it also drains it if the caller gave up early).
func (l *Ledger) verifyParallel(entries []Entry) (out []verified, stop func()) {
	out = make([]verified, len(entries))
	for i := range out {
		out[i].done = make(chan struct{})
	}
	if len(entries) <= verifyChunkEntries {
		// one chunk is one worker's work: do it here, rather than start a
		// goroutine and wake this one when it is done (measured: about a
		// tenth of a one-entry batch)
		var checks [verifyChunkEntries]sigCheck
		var pending [verifyChunkEntries]*sigCheck
		l.verifyChunk(entries, out, checks[:len(entries)], pending[:0])
		return out, func() {}
	}
	workers := l.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, (len(entries)+verifyChunkEntries-1)/verifyChunkEntries)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var checks [verifyChunkEntries]sigCheck
			var pending [verifyChunkEntries]*sigCheck
			for {
				lo := int(next.Add(verifyChunkEntries) - verifyChunkEntries)
				if lo >= len(entries) {
					return
				}
				hi := min(len(entries), lo+verifyChunkEntries)
				l.verifyChunk(entries[lo:hi], out[lo:hi], checks[:hi-lo], pending[:0])
			}
		})
	}
	return out, wg.Wait
}

// verifyChunk verifies consecutive entries into out (same length), using
// checks (same length) as scratch, and closes each entry's done channel.
func (l *Ledger) verifyChunk(entries []Entry, out []verified, checks []sigCheck, pending []*sigCheck) {
	var prepared [verifyChunkEntries]bool // the entry's key is known: its signature is checked
	for i := range entries {
		checks[i] = sigCheck{}
		if prepared[i] = l.parseOne(entries[i].Data, &out[i], &checks[i]); prepared[i] {
			pending = append(pending, &checks[i])
		}
	}
	finishChecks(pending)
	for i := range entries {
		v := &out[i]
		if v.jws != nil {
			switch {
			case checks[i].ok:
				v.keyOK = true
			case prepared[i]:
				v.err = ErrBadSignature
			}
			v.cmd, v.payload, v.rj = DecodeCommand(v.jws.payload)
		}
		close(v.done)
	}
}

// parseOne parses an entry's envelope and JWS into v and, if its key is
// known, prepares the signature check c (reporting true), unless this
// node's own signer made the signature (v.keyOK, no check).
func (l *Ledger) parseOne(data []byte, v *verified, c *sigCheck) bool {
	t, raw, err := DecodeEnvelope(data)
	if err != nil {
		v.err = err
		return false
	}
	v.timeMs = t
	if v.jws, v.err = parseCompact(raw, &l.keys.headers); v.err != nil {
		v.jws = nil
		return false
	}
	k, ok := l.keys.get(v.jws.kid)
	if !ok {
		return false
	}
	// (the key id first: most entries are other agencies', and need no lookup)
	if own := l.own.Load(); own != nil && own.KID() == v.jws.kid && own.recent.made(v.jws.kid, v.jws.input, v.jws.sig) {
		v.keyOK = true // this node's signer made it (TrustOwnSignatures)
		l.owned.Add(1)
		return false
	}
	k.vk.prepare(v.jws.input, v.jws.sig, c)
	return true
}

// afterCommit updates the in-memory caches from what the batch changed.
// They are derived state: rebuilt from the database on open and restore.
func (l *Ledger) afterCommit(a *applier) {
	l.keys.add(a.newKeys)
	for _, tok := range a.dirty {
		li := a.dirtySet[tok]
		l.index.put(&li)
	}
	a.merge(l.cache)
}

// merge applies the batch's changes to the state cache.
func (a *applier) merge(c *stateCache) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tok := range a.dirty {
		li := a.dirtySet[tok]
		c.addListing(&li)
	}
	for _, id := range a.dirtyAgencies {
		c.agencies[id] = a.agencies[id].clone()
	}
	for _, id := range a.dirtyResIDs {
		r := a.dirtyRes[id]
		if a.held(r) {
			c.holds[id] = *r
		} else {
			delete(c.holds, id)
		}
	}
	for _, k := range a.newIdemKeys {
		c.addIdem([]byte(k), a.newIdem[k])
	}
	for _, h := range a.newHist {
		c.addHist(h.ord, h.seq)
	}
	for _, k := range a.childKeys {
		if ids := a.children[k]; len(ids) > 0 {
			c.children[k] = ids
		} else {
			delete(c.children, k)
		}
	}
}

// held reports whether r's listing, as the batch left it, holds r.
func (a *applier) held(r *Reservation) bool {
	if li, ok := a.dirtySet[r.Listing]; ok {
		return li.HoldID == r.ID
	}
	ord, ok := a.l.index.ordinal(r.Listing)
	if !ok {
		return false
	}
	li, ok := a.l.cache.listing(ord)
	return ok && li.HoldID == r.ID
}

// appendBuckets are the state buckets that grow at their end, and
// appendFillPercent is the page fill bbolt splits them at (its maximum):
// with bbolt's default of half-full pages a batch writes more pages of
// them (measured: 331 instead of 422 for 512 publishes). Entries only
// ever grow at the end: their keys are sequences. Listings are keyed by
// ordinal, so they grow at the end on publish and otherwise change in
// place (a value that grows in a full page splits it, as it would at any
// fill).
var appendBuckets = [][]byte{bEntries, bListings}

const appendFillPercent = 1.0

// applier holds one batch's working state inside a write transaction.
type applier struct {
	l       *Ledger
	tx      *bolt.Tx
	meta    *bolt.Bucket
	hb      *bolt.Bucket // the head bucket
	entries *bolt.Bucket
	rng     *compact.Range
	head    Hash
	clock   int64
	acc     stateAcc // the state sum (commitment.go), kept by put and del
	ords    []uint32 // listings the command being applied touched (putListing)

	newKeys  []keyEntry
	dirty    []string
	dirtySet map[string]Listing

	// the batch's changes to the state cache, merged into it after commit
	dirtyRes    map[uint64]*Reservation // reservations written, newest version
	dirtyResIDs []uint64                // their ids, in the order first written
	newIdem     map[string]uint64       // accepted commands: idempotency key -> seq
	newIdemKeys []string
	newHist     []histItem
	children    map[string][]uint64 // holder NUL child -> active holds, for keys the batch changed
	childKeys   []string

	// per-batch read caches, written through by putAgency and enact
	agencies      map[string]*Agency // nil: no such agency
	dirtyAgencies []string           // written by putAgency, for the state cache
	pol           *Policy

	fee feeBatch // obligations and netting runs the batch touched
}

// histItem is one entry in a listing's history.
type histItem struct {
	ord uint32
	seq uint64
}

func newApplier(tx *bolt.Tx, l *Ledger) *applier {
	return &applier{l: l, tx: tx, meta: tx.Bucket(bMeta), hb: tx.Bucket(bHead), entries: tx.Bucket(bEntries),
		dirtySet: map[string]Listing{}, agencies: map[string]*Agency{},
		dirtyRes: map[uint64]*Reservation{}, newIdem: map[string]uint64{}, children: map[string][]uint64{}}
}

func (a *applier) load() error {
	r, err := loadRange(a.hb)
	if err != nil {
		return err
	}
	a.rng = r
	for _, name := range appendBuckets {
		a.tx.Bucket(name).FillPercent = appendFillPercent
	}
	copy(a.head[:], a.hb.Get(kHead))
	a.clock = int64(getU64(a.hb, kClock))
	a.acc, err = accFromBytes(a.hb.Get(kAcc))
	return err
}

func (a *applier) finish() error {
	if err := storeRange(a.hb, a.rng); err != nil {
		return err
	}
	if err := a.hb.Put(kHead, a.head[:]); err != nil {
		return err
	}
	if err := a.hb.Put(kAcc, a.acc.bytes()); err != nil {
		return err
	}
	return a.hb.Put(kClock, u64(uint64(a.clock)))
}

// markDirty remembers the newest version of a listing the batch wrote,
// for the search index after commit.
func (a *applier) markDirty(li *Listing) {
	if _, ok := a.dirtySet[li.Token]; !ok {
		a.dirty = append(a.dirty, li.Token)
	}
	a.dirtySet[li.Token] = *li
}

// cmdCtx is what a rule sees of one command.
type cmdCtx struct {
	cmd   *Command
	now   int64  // ledger time for this command, ms: max(clock, envelope time)
	seq   uint64 // the sequence it gets if accepted
	agent *Agency
}

// applyOne applies one verified entry. Only storage failures are errors.
func (a *applier) applyOne(v *verified) (Result, error) {
	if v.err != nil && v.jws == nil {
		return Result{Rejection: reject(CodeInvalid, "entry: %v", v.err)}, nil
	}
	if v.rj != nil {
		return Result{Rejection: v.rj}, nil
	}
	cmd, payload := v.cmd, v.payload
	agent, rj, err := a.authorise(v, cmd)
	if err != nil || rj != nil {
		return Result{Rejection: rj}, err
	}
	idemKey := []byte(cmd.Agency + "\x00" + cmd.ID)
	if prev, ok, err := a.previousResult(idemKey); err != nil || ok {
		return prev, err
	}
	c := &cmdCtx{cmd: cmd, now: max(a.clock, v.timeMs), seq: a.rng.End(), agent: agent}
	a.ords = a.ords[:0]
	rj, err = a.dispatch(c, payload)
	if err != nil {
		return Result{}, err
	}
	if rj != nil {
		res := Result{Rejection: rj}
		return res, putJSON(a.tx.Bucket(bRejected), idemKey, res) // local: not state
	}
	a.clock = c.now
	// an accepted command is remembered by its sequence (its entry holds
	// the key); the result is derived on a retry
	res, err := a.appendEntry(kindCommand, v.timeMs, joinJWS(v.jws), idemKey)
	if err != nil {
		return Result{}, err
	}
	a.newIdem[string(idemKey)] = res.Seq
	a.newIdemKeys = append(a.newIdemKeys, string(idemKey))
	return res, nil
}

// joinJWS returns the exact compact bytes that were verified.
func joinJWS(j *compactJWS) []byte {
	out := make([]byte, 0, len(j.input)+1+b64.EncodedLen(len(j.sig)))
	out = append(append(out, j.input...), '.')
	return b64.AppendEncode(out, j.sig)
}

// authorise checks, at this position in the log, that the signing key is
// the command's agency's active key and that the agency is active. Keys
// unknown to the parallel phase (registered earlier in this batch) are
// verified here.
func (a *applier) authorise(v *verified, cmd *Command) (*Agency, *Rejection, error) {
	ag, err := a.agency(cmd.Agency)
	if err != nil {
		return nil, nil, err
	}
	if ag == nil || ag.Status != "active" {
		return nil, reject(CodeUnauthorised, "agency %q is not an active member of the federation", cmd.Agency), nil
	}
	var key *AgencyKey
	for i := range ag.Keys {
		if ag.Keys[i].KID == v.jws.kid {
			key = &ag.Keys[i]
		}
	}
	if key == nil || !key.Active {
		return nil, reject(CodeUnauthorised, "key %s is not an active key of agency %s", v.jws.kid, cmd.Agency), nil
	}
	if !v.keyOK {
		pub, err := decodePublicKey(key.PublicKey)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: agency %s key", ErrCorrupt, ag.ID)
		}
		if v.jws.verify(pub) != nil {
			return nil, reject(CodeUnauthorised, "signature does not verify with key %s of agency %s", v.jws.kid, cmd.Agency), nil
		}
	}
	return ag, nil, nil
}

// previousResult is the result the ledger gave the command idemKey
// (agency NUL id), marked Duplicate, if it has seen one: accepted earlier
// in this batch or before it (the state cache), or rejected.
func (a *applier) previousResult(idemKey []byte) (Result, bool, error) {
	if seq, ok := a.newIdem[string(idemKey)]; ok {
		return duplicateOf(a.tx, seq)
	}
	return previousResult(a.tx, a.l.cache, idemKey)
}

// previousResult looks idemKey up in the cache's accepted commands, then
// in the rejected ones. The FSM goroutine calls it as it is; other
// callers hold c.mu for reading.
func previousResult(tx *bolt.Tx, c *stateCache, idemKey []byte) (Result, bool, error) {
	if seq, ok := c.idemSeq(idemKey, storedIdem(tx.Bucket(bEntries))); ok {
		return duplicateOf(tx, seq)
	}
	var res Result
	ok, err := getJSON(tx.Bucket(bRejected), idemKey, &res)
	res.Duplicate = ok
	return res, ok, err
}

// storedIdem reads the idempotency key an entry holds (nil if none).
func storedIdem(entries *bolt.Bucket) func(seq uint64) []byte {
	return func(seq uint64) []byte {
		f, err := entryValue(entries, seq)
		if err != nil {
			return nil
		}
		return f.idem
	}
}

func duplicateOf(tx *bolt.Tx, seq uint64) (Result, bool, error) {
	res, err := acceptedResult(tx, seq)
	res.Duplicate = true
	return res, true, err
}

// PreviousResult returns the result this node's ledger gave the command
// with idempotency id id from agency (marked Duplicate), if it has applied
// one: what a retry of it would get.
func (l *Ledger) PreviousResult(agency, id string) (res Result, ok bool, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		l.cache.mu.RLock()
		defer l.cache.mu.RUnlock()
		res, ok, err = previousResult(tx, l.cache, []byte(agency+"\x00"+id))
		return err
	})
	return res, ok, err
}

// acceptedResult rebuilds the result of the accepted entry seq.
func acceptedResult(tx *bolt.Tx, seq uint64) (Result, error) {
	entries := tx.Bucket(bEntries)
	f, err := entryValue(entries, seq)
	if err != nil {
		return Result{}, err
	}
	eh := f.hash
	root, err := rootAt(entries, seq+1)
	if err != nil {
		return Result{}, err
	}
	var rh Hash
	copy(rh[:], root)
	return Result{Accepted: true, Seq: seq, EntryHash: &eh, Root: &rh, TreeSize: seq + 1}, nil
}

// appendEntry adds an accepted entry to the ledger: its record, chained
// hash, the tree nodes its leaf completes, the command's idempotency key
// and the listings it touched, as one value (entry.go).
func (a *applier) appendEntry(kind byte, timeMs int64, data, idemKey []byte) (Result, error) {
	seq := a.rng.End()
	rec := encodeRecord(kind, seq, timeMs, data)
	d := sha256.New()
	d.Write(a.head[:])
	d.Write(rec)
	f := entryFields{idem: idemKey, ords: a.ords, record: rec}
	d.Sum(f.hash[:0])
	f.nodes = make([][]byte, 0, nodesCompleted(seq))
	if err := a.rng.Append(treeHasher.HashLeaf(rec), func(_ compact.NodeID, h []byte) { f.nodes = append(f.nodes, h) }); err != nil {
		return Result{}, fmt.Errorf("merkle append: %w", err)
	}
	if len(f.nodes) != nodesCompleted(seq) {
		panic(fmt.Sprintf("ledger: leaf %d completed %d tree nodes, not %d", seq, len(f.nodes), nodesCompleted(seq)))
	}
	eh := entryElemHash(seq, &f)
	a.acc.add(&eh)
	f.state = publishedStateHash(&a.acc, a.clock, seq+1)
	if err := a.entries.Put(u64(seq), encodeEntryValue(&f)); err != nil {
		return Result{}, err
	}
	for _, o := range a.ords {
		a.newHist = append(a.newHist, histItem{ord: o, seq: seq})
	}
	a.head = f.hash
	root, err := a.rng.GetRootHash(nil)
	if err != nil {
		return Result{}, err
	}
	var rh Hash
	copy(rh[:], root)
	return Result{Accepted: true, Seq: seq, EntryHash: &f.hash, Root: &rh, TreeSize: seq + 1}, nil
}

// agency returns a copy of the agency (callers may modify it and putAgency it).
func (a *applier) agency(id string) (*Agency, error) {
	if ag, ok := a.agencies[id]; ok {
		if ag == nil {
			return nil, nil
		}
		cp := ag.clone()
		return &cp, nil
	}
	cached, ok := a.l.cache.agencies[id] // every stored agency
	if !ok {
		a.agencies[id] = nil
		return nil, nil
	}
	ag := cached.clone()
	a.agencies[id] = &ag
	cp := ag.clone()
	return &cp, nil
}

func (a *applier) policy() (Policy, error) {
	if a.pol != nil {
		return *a.pol, nil
	}
	var p Policy
	ok, err := getJSON(a.meta, kPolicy, &p)
	if err == nil && !ok {
		err = fmt.Errorf("%w: no policy", ErrCorrupt)
	}
	a.pol = &p
	return p, err
}

func (a *applier) putPolicy(p *Policy) error {
	cp := *p
	a.pol = &cp
	return a.putJSONState(bMeta, kPolicy, p)
}

// applyGenesis writes the genesis document's hash, the founding registry
// and policy and appends the genesis as entry 0.
func (a *applier) applyGenesis(g *Genesis, doc, sum []byte) error {
	if err := a.load(); err != nil {
		return err
	}
	if err := a.put(bMeta, kGenesisHash, sum); err != nil {
		return err
	}
	if err := a.put(bMeta, kFormat, u64(storeFormat)); err != nil {
		return err
	}
	for i := range g.Agencies {
		ag, err := g.Agencies[i].agency()
		if err != nil {
			return err
		}
		if err := a.putAgency(ag); err != nil {
			return err
		}
	}
	if err := a.putPolicy(&g.Policy); err != nil {
		return err
	}
	fees := g.feeSchedule()
	if err := a.putFeeSchedule(&fees); err != nil {
		return err
	}
	a.clock = g.TimeMs
	if _, err := a.appendEntry(kindGenesis, g.TimeMs, doc, nil); err != nil {
		return err
	}
	return a.finish()
}

// putAgency stores an agency and indexes its keys and node keys.
func (a *applier) putAgency(ag *Agency) error {
	kids := a.tx.Bucket(bKids)
	for _, k := range ag.Keys {
		if kids.Get([]byte(k.KID)) == nil {
			pub, _ := decodePublicKey(k.PublicKey)
			a.newKeys = append(a.newKeys, newKeyEntry(k.KID, ag.ID, pub))
			if err := a.put(bKids, []byte(k.KID), []byte(ag.ID)); err != nil {
				return err
			}
		}
	}
	for _, n := range ag.Nodes {
		if err := a.put(bNodeKeys, []byte(n.PublicKey), []byte(ag.ID+"\x00"+n.ID)); err != nil {
			return err
		}
	}
	cp := ag.clone()
	if !slices.Contains(a.dirtyAgencies, ag.ID) {
		a.dirtyAgencies = append(a.dirtyAgencies, ag.ID)
	}
	a.agencies[ag.ID] = &cp
	return a.putJSONState(bAgencies, []byte(ag.ID), ag)
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}
