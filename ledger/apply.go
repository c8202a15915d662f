package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"

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

// verified is the outcome of the parallel, pure phase for one entry.
type verified struct {
	timeMs int64
	jws    *compactJWS
	key    keyEntry
	keyOK  bool  // kid was known and the signature verified against it
	err    error // envelope or JWS malformed, or signature bad
}

// ApplyBatch applies Raft log entries in order in one bbolt transaction and
// returns one result per entry. Signatures are verified first, in parallel
// (verification is pure); authorisation and domain rules are then checked
// in log order against the state. A returned error means the state could
// not be written: the caller (the FSM) must stop, not skip the batch.
func (l *Ledger) ApplyBatch(entries []Entry) ([]Result, error) {
	if len(entries) > BatchEntriesMax {
		return nil, fmt.Errorf("ledger: batch of %d entries; at most %d", len(entries), BatchEntriesMax)
	}
	pre := l.verifyParallel(entries)
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.db == nil {
		return nil, ErrClosed
	}
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
			if e.Index != 0 && e.Index <= applied {
				results[i] = Result{Skipped: true}
				continue
			}
			res, err := a.applyOne(&pre[i])
			if err != nil {
				return fmt.Errorf("ledger: apply index %d: %w", e.Index, err)
			}
			results[i] = res
			if e.Index > applied {
				applied = e.Index
			}
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
		if err := l.view(func(tx *bolt.Tx) error { return checkListings(tx, a.dirty) }); err != nil {
			panic(fmt.Sprintf("ledger: strict mode: invariant broken after batch: %v", err))
		}
	}
	return results, nil
}

// verifyParallel decodes envelopes and verifies signatures against the
// key cache with a bounded pool of goroutines.
func (l *Ledger) verifyParallel(entries []Entry) []verified {
	out := make([]verified, len(entries))
	workers := l.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers > len(entries) {
		workers = len(entries)
	}
	one := func(i int) {
		v := &out[i]
		t, raw, err := DecodeEnvelope(entries[i].Data)
		if err != nil {
			v.err = err
			return
		}
		v.timeMs = t
		if v.jws, v.err = parseCompact(raw); v.err != nil {
			return
		}
		if k, ok := l.keys.get(v.jws.kid); ok {
			v.key = k
			if v.err = v.jws.verify(k.pub); v.err == nil {
				v.keyOK = true
			}
		}
	}
	if workers <= 1 {
		for i := range entries {
			one(i)
		}
		return out
	}
	var wg sync.WaitGroup
	next := make(chan int, len(entries))
	for i := range entries {
		next <- i
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := range next {
				one(i)
			}
		})
	}
	wg.Wait()
	return out
}

// afterCommit updates the in-memory caches from what the batch changed.
// They are derived state: rebuilt from the database on open and restore.
func (l *Ledger) afterCommit(a *applier) {
	l.keys.add(a.newKeys)
	if len(a.dirty) == 0 {
		return
	}
	_ = l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bListings)
		for _, tok := range a.dirty {
			var li Listing
			if ok, err := getJSON(b, []byte(tok), &li); err == nil && ok {
				l.index.put(&li)
			}
		}
		return nil
	})
}

// applier holds one batch's working state inside a write transaction.
type applier struct {
	l     *Ledger
	tx    *bolt.Tx
	meta  *bolt.Bucket
	rng   *compact.Range
	head  Hash
	clock int64

	newKeys  []keyEntry
	dirty    []string
	dirtySet map[string]bool
}

func newApplier(tx *bolt.Tx, l *Ledger) *applier {
	return &applier{l: l, tx: tx, meta: tx.Bucket(bMeta), dirtySet: map[string]bool{}}
}

func (a *applier) load() error {
	r, err := loadRange(a.meta)
	if err != nil {
		return err
	}
	a.rng = r
	copy(a.head[:], a.meta.Get(kHead))
	a.clock = int64(getU64(a.meta, kClock))
	return nil
}

func (a *applier) finish() error {
	if err := storeRange(a.meta, a.rng); err != nil {
		return err
	}
	if err := a.meta.Put(kHead, a.head[:]); err != nil {
		return err
	}
	return a.meta.Put(kClock, u64(uint64(a.clock)))
}

func (a *applier) markDirty(token string) {
	if !a.dirtySet[token] {
		a.dirtySet[token] = true
		a.dirty = append(a.dirty, token)
	}
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
	cmd, payload, rj := DecodeCommand(v.jws.payload)
	if rj != nil {
		return Result{Rejection: rj}, nil
	}
	agent, rj, err := a.authorise(v, cmd)
	if err != nil || rj != nil {
		return Result{Rejection: rj}, err
	}
	idemKey := []byte(cmd.Agency + "\x00" + cmd.ID)
	if prev, ok, err := a.previousResult(idemKey); err != nil || ok {
		return prev, err
	}
	c := &cmdCtx{cmd: cmd, now: max(a.clock, v.timeMs), seq: a.rng.End(), agent: agent}
	rj, err = a.dispatch(c, payload)
	if err != nil {
		return Result{}, err
	}
	if rj != nil {
		res := Result{Rejection: rj}
		return res, putJSON(a.tx.Bucket(bRejected), idemKey, res)
	}
	a.clock = c.now
	res, err := a.appendEntry(kindCommand, v.timeMs, joinJWS(v.jws))
	if err != nil {
		return Result{}, err
	}
	return res, putJSON(a.tx.Bucket(bIdem), idemKey, res)
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

func (a *applier) previousResult(idemKey []byte) (Result, bool, error) {
	var res Result
	for _, b := range [][]byte{bIdem, bRejected} {
		ok, err := getJSON(a.tx.Bucket(b), idemKey, &res)
		if err != nil || ok {
			res.Duplicate = ok
			return res, ok, err
		}
	}
	return res, false, nil
}

// appendEntry adds an accepted entry to the ledger: record, hash chain and Merkle tree.
func (a *applier) appendEntry(kind byte, timeMs int64, data []byte) (Result, error) {
	seq := a.rng.End()
	rec := encodeRecord(kind, seq, timeMs, data)
	d := sha256.New()
	d.Write(a.head[:])
	d.Write(rec)
	var eh Hash
	copy(eh[:], d.Sum(nil))
	tree := a.tx.Bucket(bTree)
	var putErr error
	err := a.rng.Append(treeHasher.HashLeaf(rec), func(id compact.NodeID, h []byte) {
		if putErr == nil {
			putErr = tree.Put(nodeKey(id), h)
		}
	})
	if err != nil || putErr != nil {
		return Result{}, fmt.Errorf("merkle append: %v %v", err, putErr)
	}
	if err := a.tx.Bucket(bEntries).Put(u64(seq), rec); err != nil {
		return Result{}, err
	}
	if err := a.tx.Bucket(bHashes).Put(u64(seq), eh[:]); err != nil {
		return Result{}, err
	}
	a.head = eh
	root, err := a.rng.GetRootHash(nil)
	if err != nil {
		return Result{}, err
	}
	var rh Hash
	copy(rh[:], root)
	return Result{Accepted: true, Seq: seq, EntryHash: &eh, Root: &rh, TreeSize: seq + 1}, nil
}

func (a *applier) agency(id string) (*Agency, error) {
	var ag Agency
	ok, err := getJSON(a.tx.Bucket(bAgencies), []byte(id), &ag)
	if err != nil || !ok {
		return nil, err
	}
	return &ag, nil
}

func (a *applier) policy() (Policy, error) {
	var p Policy
	ok, err := getJSON(a.meta, kPolicy, &p)
	if err == nil && !ok {
		err = fmt.Errorf("%w: no policy", ErrCorrupt)
	}
	return p, err
}

// applyGenesis writes the founding registry and policy and appends the genesis as entry 0.
func (a *applier) applyGenesis(g *Genesis, doc []byte) error {
	if err := a.load(); err != nil {
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
	if err := putJSON(a.meta, kPolicy, g.Policy); err != nil {
		return err
	}
	a.clock = g.TimeMs
	if _, err := a.appendEntry(kindGenesis, g.TimeMs, doc); err != nil {
		return err
	}
	return a.finish()
}

// putAgency stores an agency and indexes its keys and node keys.
func (a *applier) putAgency(ag *Agency) error {
	kids, nodes := a.tx.Bucket(bKids), a.tx.Bucket(bNodeKeys)
	for _, k := range ag.Keys {
		if kids.Get([]byte(k.KID)) == nil {
			pub, _ := decodePublicKey(k.PublicKey)
			a.newKeys = append(a.newKeys, keyEntry{kid: k.KID, agency: ag.ID, pub: pub})
			if err := kids.Put([]byte(k.KID), []byte(ag.ID)); err != nil {
				return err
			}
		}
	}
	for _, n := range ag.Nodes {
		if err := nodes.Put([]byte(n.PublicKey), []byte(ag.ID+"\x00"+n.ID)); err != nil {
			return err
		}
	}
	return putJSON(a.tx.Bucket(bAgencies), []byte(ag.ID), ag)
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}
