package ledger

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/transparency-dev/merkle/compact"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Entries    uint64 `json:"entries"`
	Root       Hash   `json:"root"`
	StateHash  Hash   `json:"state_hash"`
	Signatures uint64 `json:"signatures_verified"`
	// FirstBadSeq and Problem are set when verification failed.
	FirstBadSeq *uint64 `json:"first_bad_seq,omitempty"`
	Problem     string  `json:"problem,omitempty"`
}

// replayBatchMax is how many entries Verify replays per transaction.
const replayBatchMax = 512

// Verify re-checks a ledger from scratch: the hash chain entry by entry,
// the Merkle root rebuilt from the records, and a full replay of every
// entry (every signature verified again, every rule re-applied) into a
// fresh ledger in scratchDir, whose state hash must equal the stored one.
// It returns a report; err is only for failures to read or write.
func (l *Ledger) Verify(scratchDir string) (VerifyReport, error) {
	var rep VerifyReport
	head, err := l.Head()
	if err != nil {
		return rep, err
	}
	want, err := l.StateHash()
	if err != nil {
		return rep, err
	}
	tmp, err := os.MkdirTemp(scratchDir, "raaft-verify-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(tmp)
	fresh, err := Open(filepath.Join(tmp, "replay.db"), Options{NoSync: true})
	if err != nil {
		return rep, err
	}
	defer fresh.Close()
	v := &verifier{fresh: fresh, rep: &rep, rng: rangeFactory.NewEmptyRange(0)}
	err = l.ForEachEntry(0, v.entry)
	if errors.Is(err, errStop) {
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	if err := v.flush(); err != nil {
		if errors.Is(err, errStop) {
			return rep, nil
		}
		return rep, err
	}
	root, _ := v.rng.GetRootHash(nil)
	copy(rep.Root[:], root)
	if rep.Root != head.Root || rep.Entries != head.Size {
		v.fail(rep.Entries, fmt.Sprintf("rebuilt Merkle root %s (size %d) differs from stored %s (size %d)", rep.Root, rep.Entries, head.Root, head.Size))
		return rep, nil
	}
	got, err := fresh.StateHash()
	if err != nil {
		return rep, err
	}
	rep.StateHash = got
	if got != want {
		v.fail(rep.Entries, fmt.Sprintf("replayed state hash %s differs from stored %s", got, want))
	}
	return rep, nil
}

var errStop = errors.New("stop")

type verifier struct {
	fresh   *Ledger
	rep     *VerifyReport
	rng     *compact.Range
	prev    Hash
	pending []Entry
	seqs    []Record
}

func (v *verifier) fail(seq uint64, problem string) {
	v.rep.FirstBadSeq, v.rep.Problem = &seq, problem
}

func (v *verifier) entry(r Record) error {
	if r.Seq != v.rep.Entries {
		v.fail(v.rep.Entries, fmt.Sprintf("entry sequence %d where %d was expected", r.Seq, v.rep.Entries))
		return errStop
	}
	rec := encodeRecord(kindOf(r.Kind), r.Seq, r.TimeMs, r.Data)
	d := sha256.New()
	d.Write(v.prev[:])
	d.Write(rec)
	if !bytes.Equal(d.Sum(nil), r.EntryHash[:]) {
		v.fail(r.Seq, "entry hash does not chain from the previous entry")
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
	v.rep.Entries++
	if r.Kind == "genesis" {
		if r.Seq != 0 {
			v.fail(r.Seq, "genesis after entry 0")
			return errStop
		}
		if err := v.fresh.InitGenesis(r.Data); err != nil {
			v.fail(r.Seq, "genesis: "+err.Error())
			return errStop
		}
		v.rep.Signatures++
		return nil
	}
	v.pending = append(v.pending, Entry{Index: r.Seq, Data: EncodeEnvelope(r.TimeMs, r.Data)})
	v.seqs = append(v.seqs, r)
	if len(v.pending) >= replayBatchMax {
		return v.flush()
	}
	return nil
}

func (v *verifier) flush() error {
	if len(v.pending) == 0 {
		return nil
	}
	res, err := v.fresh.ApplyBatch(v.pending)
	if err != nil {
		return err
	}
	for i, r := range res {
		want := v.seqs[i]
		switch {
		case !r.Accepted:
			msg := "replay did not accept the entry"
			if r.Rejection != nil {
				msg += ": " + r.Rejection.Error()
			}
			v.fail(want.Seq, msg)
			return errStop
		case r.Seq != want.Seq || *r.EntryHash != want.EntryHash:
			v.fail(want.Seq, "replay produced a different entry hash")
			return errStop
		}
		v.rep.Signatures++
	}
	v.pending, v.seqs = v.pending[:0], v.seqs[:0]
	return nil
}

func kindOf(k string) byte {
	if k == "genesis" {
		return kindGenesis
	}
	return kindCommand
}
