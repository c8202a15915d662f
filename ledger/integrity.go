package ledger

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Damage is what an integrity check found wrong in a ledger file: where
// (the first bad sequence, or the bucket) and what was expected and found.
// It wraps ErrDamaged. A damaged file is never served: the node moves it
// aside and rebuilds the ledger from the federation.
type Damage struct {
	Seq      *uint64 // the first bad entry, when the damage is in one
	Bucket   string  // the bucket, when known
	Problem  string
	Expected string
	Found    string
}

func (d *Damage) Error() string { return "ledger: damaged: " + d.Detail() }

// Detail is what is wrong and where, without the sentinel's words.
func (d *Damage) Detail() string {
	var b bytes.Buffer
	if d.Seq != nil {
		fmt.Fprintf(&b, "entry %d: ", *d.Seq)
	}
	if d.Bucket != "" {
		fmt.Fprintf(&b, "bucket %s: ", d.Bucket)
	}
	b.WriteString(d.Problem)
	if d.Expected != "" || d.Found != "" {
		fmt.Fprintf(&b, " (expected %s, found %s)", d.Expected, d.Found)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrDamaged) true.
func (d *Damage) Unwrap() error { return ErrDamaged }

func damageAt(seq uint64, problem, expected, found string) *Damage {
	return &Damage{Seq: &seq, Bucket: string(bEntries), Problem: problem, Expected: expected, Found: found}
}

// CheckIntegrity checks what the node is about to serve, before it
// serves it: the hash chain and the Merkle tree nodes of every entry from
// sequence from (entries before it are vouched for by a co-signed
// checkpoint at size from, which the caller has compared with RootAt and
// StateHashAt), the stored tree head against the rebuilt one, and the
// state: the sum of the stored state's elements recomputed from scratch
// against the stored sum, and the state hash of the newest entry against
// the one that sum gives. It costs one pass over the file (measured in
// BenchmarkCheckIntegrity), never a replay. It returns a *Damage (wrapping
// ErrDamaged) naming the first thing found wrong. A bbolt file damaged so
// badly that reading it panics or faults is reported as damage too.
func (l *Ledger) CheckIntegrity(from uint64) (err error) {
	return l.view(func(tx *bolt.Tx) error {
		return guardFaults(func() error { return checkIntegrityTx(tx, from) })
	})
}

// guardFaults runs fn, turning a panic or a memory fault (a damaged page
// read through bbolt's mmap) into damage rather than a crash.
func guardFaults(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = damaged("reading it failed with a panic, which a damaged file causes: %v", r)
		}
	}()
	return fn()
}

func checkIntegrityTx(tx *bolt.Tx, from uint64) error {
	hb := tx.Bucket(bHead)
	size := getU64(hb, kSize)
	if size == 0 {
		if tx.Bucket(bMeta).Get(kGenesisHash) != nil {
			return &Damage{Bucket: string(bHead), Problem: "genesis recorded but the tree is empty"}
		}
		return nil
	}
	if from >= size {
		from = size - 1
	}
	rng, err := tailChain(tx.Bucket(bEntries), from, size)
	if err != nil {
		return err
	}
	if err := checkStoredHead(hb, rng, size); err != nil {
		return err
	}
	return checkStateSum(tx, size)
}

// tailChain rebuilds the chain and the tree from entry from to size-1,
// comparing each entry's stored hash and tree nodes with the rebuilt ones.
func tailChain(entries *bolt.Bucket, from, size uint64) (*compact.Range, error) {
	rng := rangeFactory.NewEmptyRange(0)
	var prev Hash
	if from > 0 {
		hashes, err := nodeHashes(entries, compact.RangeNodes(0, from, nil))
		if err != nil {
			return nil, damageAt(from-1, "tree nodes below the checked tail cannot be read", "", err.Error())
		}
		if rng, err = rangeFactory.NewRange(0, from, hashes); err != nil {
			return nil, damageAt(from-1, "tree nodes below the checked tail do not form a tree", "", err.Error())
		}
		f, err := entryValue(entries, from-1)
		if err != nil {
			return nil, damageAt(from-1, "entry cannot be read", "", err.Error())
		}
		prev = f.hash
	}
	c := entries.Cursor()
	seq := from
	for k, v := c.Seek(u64(from)); k != nil; k, v = c.Next() {
		if got := bytesU64(k); got != seq {
			return nil, damageAt(seq, "entry missing", fmt.Sprintf("key %d", seq), fmt.Sprintf("key %d", got))
		}
		f, err := decodeEntryValue(v)
		if err != nil {
			return nil, damageAt(seq, "entry value cannot be decoded", "", err.Error())
		}
		if err := checkLink(seq, &prev, &f, rng); err != nil {
			return nil, err
		}
		seq++
	}
	if seq != size {
		return nil, damageAt(seq, "entries end before the tree size", fmt.Sprintf("%d entries", size), fmt.Sprintf("%d", seq))
	}
	return rng, nil
}

// checkLink checks one entry against the previous entry's hash and the
// tree rebuilt so far, and advances both.
func checkLink(seq uint64, prev *Hash, f *entryFields, rng *compact.Range) error {
	if len(f.record) < recordHdrLen || f.record[0] != envelopeVersion || f.record[1] > kindCommand {
		return damageAt(seq, "record header is not a record", "", fmt.Sprintf("%x", f.record[:min(len(f.record), recordHdrLen)]))
	}
	if got := bytesU64(f.record[2:10]); got != seq {
		return damageAt(seq, "record names another sequence", fmt.Sprint(seq), fmt.Sprint(got))
	}
	d := sha256.New()
	d.Write(prev[:])
	d.Write(f.record)
	var want Hash
	d.Sum(want[:0])
	if want != f.hash {
		return damageAt(seq, "entry hash does not chain from the previous entry over this record", want.String(), f.hash.String())
	}
	*prev = f.hash
	var nodes [][]byte
	if err := rng.Append(treeHasher.HashLeaf(f.record), func(_ compact.NodeID, h []byte) { nodes = append(nodes, h) }); err != nil {
		return damageAt(seq, "tree cannot be extended", "", err.Error())
	}
	if len(nodes) != len(f.nodes) {
		return damageAt(seq, "entry stores the wrong number of tree nodes", fmt.Sprint(len(nodes)), fmt.Sprint(len(f.nodes)))
	}
	for i := range nodes {
		if !bytes.Equal(nodes[i], f.nodes[i]) {
			return damageAt(seq, fmt.Sprintf("stored tree node at level %d differs from the one rebuilt from the records", i), fmt.Sprintf("%x", nodes[i]), fmt.Sprintf("%x", f.nodes[i]))
		}
	}
	return nil
}

// checkStoredHead compares the stored head (size, compact range, newest
// entry hash) with the tree rebuilt from the entries.
func checkStoredHead(hb *bolt.Bucket, rng *compact.Range, size uint64) error {
	stored, err := loadRange(hb)
	if err != nil {
		return &Damage{Bucket: string(bHead), Problem: "stored tree head cannot be read: " + err.Error()}
	}
	want, _ := rng.GetRootHash(nil)
	got, err := stored.GetRootHash(nil)
	if err != nil || !bytes.Equal(want, got) || stored.End() != size {
		return &Damage{Bucket: string(bHead), Problem: "stored tree head differs from the tree rebuilt from the entries",
			Expected: fmt.Sprintf("size %d root %x", size, want), Found: fmt.Sprintf("size %d root %x", stored.End(), got)}
	}
	return nil
}

// checkStateSum recomputes the state sum from the stored state and
// compares it with the stored sum and with the newest entry's state hash.
func checkStateSum(tx *bolt.Tx, size uint64) error {
	hb := tx.Bucket(bHead)
	stored, err := accFromBytes(hb.Get(kAcc))
	if err != nil {
		return &Damage{Bucket: string(bHead), Problem: err.Error()}
	}
	acc, err := recomputeAcc(tx)
	if err != nil {
		return &Damage{Bucket: string(bEntries), Problem: err.Error()}
	}
	if acc != stored {
		return &Damage{Problem: "the stored state differs from the state sum recorded when it was written (a state record, an idempotency key or an entry's listings changed)",
			Expected: fmt.Sprintf("%x", stored.bytes()), Found: fmt.Sprintf("%x", acc.bytes())}
	}
	last, err := entryValue(tx.Bucket(bEntries), size-1)
	if err != nil {
		return damageAt(size-1, "newest entry cannot be read", "", err.Error())
	}
	if want := publishedStateHash(&acc, int64(getU64(hb, kClock)), size); want != last.state {
		return damageAt(size-1, "state hash stored with the newest entry differs from the stored state's", want.String(), last.state.String())
	}
	return nil
}

// IsDamage reports whether err, from Open or CheckIntegrity, says the
// file itself is damaged (its contents, or bbolt's pages), as opposed to
// an operating condition such as a lock held by a running node, a file of
// another format or one left unsynced by a machine restart.
func IsDamage(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrDamaged), errors.Is(err, ErrCorrupt),
		errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrInvalidMapping):
		return true
	}
	return false
}

// preflight reads every page of an existing ledger file through a
// read-only bbolt handle, in this goroutine, before the file is opened
// for writing. A writable open with NoFreelistSync rebuilds the freelist
// by walking the whole file in a goroutine of bbolt's own, where a
// damaged page panics beyond any recover and kills the process; read
// here first, the same damage is a *Damage the node can act on.
func preflight(path string) error {
	st, err := os.Stat(path)
	if err != nil || st.Size() == 0 {
		return nil // a new ledger
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return err
		}
		return &Damage{Problem: "bbolt cannot open the file: " + err.Error()}
	}
	defer db.Close()
	return guardFaults(func() error {
		return db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				return b.ForEach(func(_, _ []byte) error { return nil })
			})
		})
	})
}
