package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
)

// VerifyReport is what Verify found. Problem is empty when the ledger
// verified; otherwise it says what is wrong, and the fields after it say
// where, where that is meaningful.
type VerifyReport struct {
	Entries    uint64 `json:"entries"`
	Root       Hash   `json:"root"`
	StateHash  Hash   `json:"state_hash"`
	Signatures uint64 `json:"signatures_verified"`
	// SignaturesStdlib counts the signatures verified a second time with
	// crypto/ed25519, independently of the apply path's own verifier
	// (ed25519.go): every command's and every genesis founder's.
	SignaturesStdlib uint64 `json:"signatures_verified_stdlib"`
	// PagesChecked is how many bbolt pages CheckBoltFile walked (VerifyFile only).
	PagesChecked uint64 `json:"pages_checked,omitempty"`
	// AppliedIndex is the last Raft index the ledger records as applied.
	AppliedIndex uint64 `json:"applied_index"`
	// RaftLastIndex is the highest index the node's Raft holds (log or
	// snapshot), when its log was read; RaftLog says whether it was.
	RaftLastIndex *uint64 `json:"raft_last_index,omitempty"`
	RaftLog       string  `json:"raft_log,omitempty"`
	// CheckpointsVerified is how many checkpoints of an auditor's file
	// (raaft ledger verify --checkpoints) the ledger was checked against.
	CheckpointsVerified int `json:"checkpoints_verified,omitempty"`

	Problem     string  `json:"problem,omitempty"`
	FirstBadSeq *uint64 `json:"first_bad_seq,omitempty"`
	Bucket      string  `json:"bucket,omitempty"`
	Key         string  `json:"key,omitempty"`
	Expected    string  `json:"expected,omitempty"` // what the replay (or the Raft log) implies
	Found       string  `json:"found,omitempty"`    // what the file holds
}

// OK reports whether verification found nothing wrong.
func (r *VerifyReport) OK() bool { return r.Problem == "" }

// RaftLog is what VerifyFile reads of the node's Raft log to check the
// ledger's applied index. consensus implements it over a stopped node's
// raft.db; calls come from the verifying goroutine only.
type RaftLog interface {
	// LastIndex is the highest Raft index the node holds, in its log or
	// in its newest snapshot: the ledger cannot have applied beyond it.
	LastIndex() (uint64, error)
	// Commands calls fn with the index and data of each command entry
	// above index after, in order, until fn returns an error.
	Commands(after uint64, fn func(index uint64, data []byte) error) error
}

// VerifyOptions are VerifyFile's inputs besides the file.
type VerifyOptions struct {
	// ScratchDir holds the replay's temporary ledger; "" is os.TempDir().
	ScratchDir string
	// RaftLog is the node's Raft log; nil leaves the applied index
	// unchecked against it (RaftLog in the report says so).
	RaftLog RaftLog
}

// Limits of a verification.
const (
	// replayBatchMax is how many entries Verify replays per transaction.
	replayBatchMax = 512
	// unappliedCommandsMax bounds the Raft commands above the applied
	// index that Verify remembers (32 bytes each) to look for among the
	// entries; a stopped node has few.
	unappliedCommandsMax = 1 << 20
	// shownBytesMax bounds a value shown in a report.
	shownBytesMax = 120
)

// VerifyFile re-checks the ledger file at path without writing to it:
// the file as a bbolt database (CheckBoltFile, then bbolt's own
// tx.Check), then everything Verify checks, and the applied index against
// opts.RaftLog. A damaged file is a Problem in the report, never a panic:
// reading runs on a goroutine where a memory fault is a panic, recovered.
// err is for failures that say nothing about the file (the lock is held,
// the scratch directory cannot be written).
func VerifyFile(path string, opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	err := guardFaults(func() error {
		l, info, err := openReadOnly(path)
		if err != nil {
			return err
		}
		defer l.Close()
		rep.PagesChecked = info.PagesWalked
		if err := l.view(checkStructure); err != nil {
			return err
		}
		return l.verify(opts, &rep)
	})
	var de *Damage
	if errors.As(err, &de) {
		if rep.OK() {
			rep.Problem = filepath.Base(path) + " is damaged: " + de.Detail()
		}
		return rep, nil
	}
	return rep, err
}

// checkStructure runs bbolt's tx.Check and returns its first finding.
// CheckBoltFile has walked the same pages, so its reads are safe.
func checkStructure(tx *bolt.Tx) error {
	var first error
	for err := range tx.Check() {
		if first == nil {
			first = damaged("bbolt's structural check: %v", err)
		}
	}
	return first
}

// Verify re-checks an open ledger from scratch: the hash chain entry by
// entry, the Merkle root rebuilt from the records, and a full replay of
// every entry (every signature verified again, every rule re-applied)
// into a fresh ledger in scratchDir, whose entries and state must equal
// the stored ones. It returns a report; err is only for failures to read
// or write.
func (l *Ledger) Verify(scratchDir string) (VerifyReport, error) {
	var rep VerifyReport
	err := l.verify(VerifyOptions{ScratchDir: scratchDir}, &rep)
	return rep, err
}

func (l *Ledger) verify(opts VerifyOptions, rep *VerifyReport) error {
	v := &verifier{rep: rep, rng: rangeFactory.NewEmptyRange(0), keys: map[string]ed25519.PublicKey{}}
	var head Head
	var want Hash
	err := l.view(func(tx *bolt.Tx) (err error) {
		if raw := tx.Bucket(bLocal).Get(kApplied); raw != nil && len(raw) != 8 {
			v.failAt(nil, bLocal, kApplied, fmt.Sprintf("the applied index is %d bytes; an index is 8", len(raw)), []byte("8 bytes"), raw)
			return nil
		}
		rep.AppliedIndex = getU64(tx.Bucket(bLocal), kApplied)
		if head, err = readHead(tx); err != nil {
			return err
		}
		want, err = stateHash(tx)
		return err
	})
	if err != nil || !rep.OK() {
		return err
	}
	if v.unapplied, err = v.checkApplied(opts.RaftLog); err != nil || !rep.OK() {
		return err
	}
	tmp, err := os.MkdirTemp(opts.ScratchDir, "raaft-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if v.fresh, err = Open(filepath.Join(tmp, "replay.db"), Options{NoSync: true}); err != nil {
		return err
	}
	defer v.fresh.Close()
	if err := l.view(v.entries); err != nil || !rep.OK() {
		return err
	}
	root, _ := v.rng.GetRootHash(nil)
	copy(rep.Root[:], root)
	if rep.Root != head.Root || rep.Entries != head.Size {
		v.fail(rep.Entries, fmt.Sprintf("rebuilt Merkle root %s (size %d) differs from the stored tree head %s (size %d)", rep.Root, rep.Entries, head.Root, head.Size))
		return nil
	}
	if rep.StateHash, err = v.fresh.StateHash(); err != nil {
		return err
	}
	if rep.StateHash != want {
		return l.view(func(tx *bolt.Tx) error { return v.diffState(tx, want) })
	}
	return nil
}

// errStop ends the walk over the entries once a problem is reported.
var errStop = errors.New("stop")

type verifier struct {
	fresh     *Ledger
	rep       *VerifyReport
	rng       *compact.Range
	prev      Hash
	keys      map[string]ed25519.PublicKey // kid -> key, from the replayed registry
	unapplied map[Hash]uint64              // SHA-256 of a Raft command above the applied index -> its index
	pending   []Entry
	stored    [][]byte // the stored entry values of pending, aliasing the read transaction
}

func (v *verifier) fail(seq uint64, problem string) {
	v.rep.FirstBadSeq, v.rep.Problem = &seq, problem
}

// failAt reports a problem at a bucket and key, with the value the
// replay implies and the one found.
func (v *verifier) failAt(seq *uint64, bucket, key []byte, problem string, expected, found []byte) {
	v.rep.FirstBadSeq, v.rep.Problem = seq, problem
	v.rep.Bucket, v.rep.Key = string(bucket), shown(key)
	v.rep.Expected, v.rep.Found = shown(expected), shown(found)
}

// entries walks the stored entries in order, inside tx, replaying them.
func (v *verifier) entries(tx *bolt.Tx) error {
	c := tx.Bucket(bEntries).Cursor()
	for k, val := c.First(); k != nil; k, val = c.Next() {
		if len(k) != 8 || bytesU64(k) != v.rep.Entries {
			v.failAt(&v.rep.Entries, bEntries, k, fmt.Sprintf("an entry key where sequence %d was expected", v.rep.Entries), u64(v.rep.Entries), k)
			return nil
		}
		err := v.entry(val)
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	if err := v.flush(); !errors.Is(err, errStop) {
		return err
	}
	return nil
}

// entry checks one stored entry value against the chain and the tree,
// and queues it for replay.
func (v *verifier) entry(val []byte) error {
	seq := v.rep.Entries
	f, err := decodeEntryValue(val)
	if err != nil {
		v.fail(seq, err.Error())
		return errStop
	}
	r, err := recordOf(&f)
	if err != nil || r.Seq != seq {
		v.fail(seq, fmt.Sprintf("entry record is damaged or names sequence %d", r.Seq))
		return errStop
	}
	if err := v.chain(r, f.record); err != nil {
		return err
	}
	v.rep.Entries++
	if r.Kind == "genesis" {
		return v.genesis(r)
	}
	env := EncodeEnvelope(r.TimeMs, r.Data)
	if idx, ok := v.unapplied[sha256.Sum256(env)]; ok {
		v.failAt(&seq, bLocal, kApplied, fmt.Sprintf("applied index %d is below Raft index %d, which holds entry %d the ledger has applied: the applied index was lowered", v.rep.AppliedIndex, idx, seq),
			fmt.Appendf(nil, "at least %d", idx), fmt.Append(nil, v.rep.AppliedIndex))
		return errStop
	}
	if err := v.signature(r); err != nil {
		return err
	}
	v.pending = append(v.pending, Entry{Index: r.Seq, Data: env})
	v.stored = append(v.stored, val)
	if len(v.pending) >= replayBatchMax {
		return v.flush()
	}
	return nil
}

// chain checks r's entry hash against the previous one and its stored
// tree nodes against the ones its leaf completes.
func (v *verifier) chain(r Record, rec []byte) error {
	d := sha256.New()
	d.Write(v.prev[:])
	d.Write(rec)
	if !bytes.Equal(d.Sum(nil), r.EntryHash[:]) {
		v.fail(r.Seq, "entry hash does not chain from the previous entry (the record or the stored hash was changed)")
		return errStop
	}
	v.prev = r.EntryHash
	var nodes [][]byte
	if err := v.rng.Append(treeHasher.HashLeaf(rec), func(_ compact.NodeID, h []byte) { nodes = append(nodes, h) }); err != nil {
		return err
	}
	if len(nodes) != len(r.nodes) {
		v.fail(r.Seq, fmt.Sprintf("entry stores %d tree nodes; its leaf completes %d", len(r.nodes), len(nodes)))
		return errStop
	}
	for i := range nodes {
		if !bytes.Equal(nodes[i], r.nodes[i]) {
			v.fail(r.Seq, fmt.Sprintf("stored tree node at level %d differs from the one rebuilt from the records", i))
			return errStop
		}
	}
	return nil
}

// genesis replays entry 0.
func (v *verifier) genesis(r Record) error {
	if r.Seq != 0 {
		v.fail(r.Seq, "genesis after entry 0")
		return errStop
	}
	if err := v.fresh.InitGenesis(r.Data); err != nil {
		v.fail(r.Seq, "genesis: "+err.Error())
		return errStop
	}
	v.rep.Signatures++
	if err := v.loadKeys(); err != nil {
		return err
	}
	n, err := verifyGenesisStdlib(r.Data, v.keys)
	if err != nil {
		v.fail(r.Seq, "genesis: "+err.Error())
		return errStop
	}
	v.rep.SignaturesStdlib += n
	return nil
}

// signature verifies a command's signature with crypto/ed25519 against
// the registry as replayed so far. A kid not yet known may be registered
// by a pending entry, so the batch is replayed first.
func (v *verifier) signature(r Record) error {
	err := verifyCommandStdlib(r.Data, v.keys)
	if errors.Is(err, errUnknownKID) {
		if err := v.flush(); err != nil {
			return err
		}
		if err := v.loadKeys(); err != nil {
			return err
		}
		err = verifyCommandStdlib(r.Data, v.keys)
	}
	if err != nil {
		v.fail(r.Seq, "command signature (crypto/ed25519): "+err.Error())
		return errStop
	}
	v.rep.SignaturesStdlib++
	return nil
}

// flush replays the pending entries and compares each replayed entry
// value (hash, state hash, tree nodes, idempotency key, listings
// touched, record)
// with the stored one.
func (v *verifier) flush() error {
	if len(v.pending) == 0 {
		return nil
	}
	res, err := v.fresh.ApplyBatch(v.pending)
	if err != nil {
		return err
	}
	for i, r := range res {
		seq := v.pending[i].Index
		if !r.Accepted {
			msg := "replay did not accept the entry"
			if r.Rejection != nil {
				msg += ": " + r.Rejection.Error()
			}
			v.fail(seq, msg)
			return errStop
		}
		v.rep.Signatures++
	}
	err = v.fresh.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bEntries)
		for i, e := range v.pending {
			if got := b.Get(u64(e.Index)); !bytes.Equal(got, v.stored[i]) {
				v.entryDiff(e.Index, got, v.stored[i])
				return errStop
			}
		}
		return nil
	})
	v.pending, v.stored = v.pending[:0], v.stored[:0]
	return err
}

// entryDiff reports which field of entry seq's stored value differs
// from the replayed one.
func (v *verifier) entryDiff(seq uint64, replayed, stored []byte) {
	want, err1 := decodeEntryValue(replayed)
	got, err2 := decodeEntryValue(stored)
	what, exp, found := "value", replayed, stored
	switch {
	case err1 != nil || err2 != nil:
	case want.hash != got.hash:
		what, exp, found = "entry hash", want.hash[:], got.hash[:]
	case want.state != got.state:
		what, exp, found = "state hash", want.state[:], got.state[:]
	case !bytes.Equal(bytes.Join(want.nodes, nil), bytes.Join(got.nodes, nil)):
		what = "tree nodes"
	case !bytes.Equal(want.idem, got.idem):
		what, exp, found = "idempotency key", want.idem, got.idem
	case fmt.Sprint(want.ords) != fmt.Sprint(got.ords):
		what, exp, found = "listing ordinals", fmt.Append(nil, want.ords), fmt.Append(nil, got.ords)
	case !bytes.Equal(want.record, got.record):
		what = "record"
	}
	v.failAt(&seq, bEntries, u64(seq), fmt.Sprintf("stored %s of entry %d differs from the replayed one", what, seq), exp, found)
}

// loadKeys fills the kid map from the replayed registry.
func (v *verifier) loadKeys() error {
	return v.fresh.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bAgencies).ForEach(func(_, val []byte) error {
			var a Agency
			if err := jsonUnmarshal(val, &a); err != nil {
				return err
			}
			for _, k := range a.Keys {
				pub, err := decodePublicKey(k.PublicKey)
				if err != nil {
					return fmt.Errorf("%w: replayed agency %s key %s", ErrCorrupt, a.ID, k.KID)
				}
				v.keys[k.KID] = pub
			}
			return nil
		})
	})
}

// checkApplied checks the applied index against the Raft log: not above
// its last index, and remembers the commands above it, each of which
// must not be an entry the ledger holds.
func (v *verifier) checkApplied(rl RaftLog) (map[Hash]uint64, error) {
	if rl == nil {
		return nil, nil
	}
	applied := v.rep.AppliedIndex
	last, err := rl.LastIndex()
	if err != nil {
		return nil, err
	}
	v.rep.RaftLastIndex, v.rep.RaftLog = &last, "checked"
	if applied > last {
		v.failAt(nil, bLocal, kApplied, fmt.Sprintf("applied index %d is above the Raft log's last index %d: the ledger claims entries Raft never held", applied, last),
			fmt.Appendf(nil, "at most %d", last), fmt.Append(nil, applied))
		return nil, nil
	}
	m := map[Hash]uint64{}
	errFull := errors.New("full")
	err = rl.Commands(applied, func(index uint64, data []byte) error {
		if len(m) >= unappliedCommandsMax {
			return errFull
		}
		m[sha256.Sum256(data)] = index
		return nil
	})
	if errors.Is(err, errFull) {
		v.rep.RaftLog = fmt.Sprintf("partly checked: more than %d commands above the applied index; only the last index was compared", unappliedCommandsMax)
		return nil, nil
	}
	return m, err
}

// shown renders a key or value for a report, cut at shownBytesMax: as
// text if it is printable, Go-quoted if it is mostly printable (an
// idempotency key: agency NUL id), else as hex.
func shown(b []byte) string {
	cut := ""
	if len(b) > shownBytesMax {
		b, cut = b[:shownBytesMax], "…"
	}
	odd := 0
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			odd++
		}
	}
	switch {
	case odd == 0:
		return string(b) + cut
	case 4*odd < len(b):
		return strconv.Quote(string(b)) + cut
	}
	return fmt.Sprintf("%x%s", b, cut)
}
