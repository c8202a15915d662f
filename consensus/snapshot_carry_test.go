package consensus

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// TestSnapshotCheckedAgainstCarriedCheckpoint: a node with no
// checkpoints of its own installs a snapshot only if it agrees with the
// checkpoint the snapshot carries, when a quorum of the agencies the node
// knows signed that checkpoint; a checkpoint fewer agencies signed is
// not trusted either way.
func TestSnapshotCheckedAgainstCarriedCheckpoint(t *testing.T) {
	fed := ledgertest.NewFederation(3)
	src := publishedLedger(t, fed, 30)
	var snap bytes.Buffer
	if err := src.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	g, _ := src.GenesisHash()
	const size = 20
	root, _ := src.RootAt(size)
	state, _ := src.StateHashAt(size)
	other := state
	other[0] ^= 1
	checkpoint := func(st ledger.Hash, signers ...int) *Checkpoint {
		cp := &Checkpoint{Size: size, Root: root, StateHash: st, QuorumCosigned: true}
		body := ledger.CheckpointBody{Genesis: g, Size: size, Root: root, StateHash: st}.Encode()
		for _, i := range signers {
			jws, err := fed.Agencies[i].Signer.Sign(body)
			if err != nil {
				t.Fatal(err)
			}
			cp.Signatures = append(cp.Signatures, CheckpointSignature{Agency: fed.Agencies[i].Record.ID, Size: size, Root: root, StateHash: st, JWS: string(jws)})
		}
		return cp
	}
	for _, c := range []struct {
		name    string
		cp      *Checkpoint
		refused bool
	}{
		{"none carried", nil, false},
		{"a quorum signed what the snapshot holds", checkpoint(state, 0, 1), false},
		{"a quorum signed another state", checkpoint(other, 1, 2), true},
		{"one agency of three signed another state", checkpoint(other, 2), false},
		{"one agency's signature twice", checkpoint(other, 2, 2), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst := publishedLedger(t, fed, 0)
			n := &Node{cfg: Config{DataDir: t.TempDir()}, l: dst, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			n.cps = newCheckpoints(n)
			var in bytes.Buffer
			if err := writeCarried(&in, c.cp); err != nil {
				t.Fatal(err)
			}
			in.Write(snap.Bytes())
			err := n.restoreCarried(&in)
			if c.refused != errors.Is(err, ledger.ErrBadSnapshot) || (!c.refused && err != nil) {
				t.Fatalf("restore: %v; want refused %v", err, c.refused)
			}
			h, _ := dst.Head()
			if want := map[bool]uint64{true: 1, false: 31}[c.refused]; h.Size != want {
				t.Fatalf("ledger size %d after the restore, want %d", h.Size, want)
			}
		})
	}
}
