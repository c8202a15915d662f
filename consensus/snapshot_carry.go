package consensus

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/raaft/raaft/ledger"
)

// A Raft snapshot carries the newest quorum-cosigned checkpoint its
// ledger covers, ahead of the ledger's own snapshot: carryMagic, a
// 4-byte big-endian length, the checkpoint as JSON, then the ledger
// snapshot. A node installing it checks the snapshot's root and state
// hash at that size against the checkpoint when more than half of the
// active agencies in its own registry signed it, so that a node with no
// checkpoints of its own yet (a new or re-seeded one) still refuses a
// snapshot the quorum did not sign. A snapshot without the preamble
// (written before it existed, or when no checkpoint was co-signed yet)
// is read as before.
const (
	carryMagic    = "raaft-snapshot-checkpoint/1\n"
	carryBytesMax = 1 << 20
)

// writeCarried writes the preamble for cp (nothing if cp is nil).
func writeCarried(w io.Writer, cp *Checkpoint) error {
	if cp == nil {
		return nil
	}
	body, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	b := append([]byte(carryMagic), binary.BigEndian.AppendUint32(nil, uint32(len(body)))...)
	_, err = w.Write(append(b, body...))
	return err
}

// readCarried reads the preamble if there is one and returns the
// checkpoint it carries (nil if none) and the ledger snapshot after it.
func readCarried(r io.Reader) (*Checkpoint, io.Reader, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(len(carryMagic))
	if err != nil || !bytes.Equal(head, []byte(carryMagic)) {
		return nil, br, nil // too short or no preamble: the ledger's check says which
	}
	br.Discard(len(carryMagic))
	var n [4]byte
	if _, err := io.ReadFull(br, n[:]); err != nil {
		return nil, nil, fmt.Errorf("%w: its checkpoint preamble is cut short", ledger.ErrBadSnapshot)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > carryBytesMax {
		return nil, nil, fmt.Errorf("%w: its checkpoint preamble claims %d bytes", ledger.ErrBadSnapshot, size)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, nil, fmt.Errorf("%w: its checkpoint preamble is cut short", ledger.ErrBadSnapshot)
	}
	var cp Checkpoint
	if err := json.Unmarshal(body, &cp); err != nil {
		return nil, nil, fmt.Errorf("%w: its checkpoint preamble: %v", ledger.ErrBadSnapshot, err)
	}
	return &cp, br, nil
}

// newestCosigned is the newest quorum-cosigned checkpoint at or below
// size, or nil.
func (c *checkpoints) newestCosigned(size uint64) *Checkpoint {
	cps := c.cosignedUpTo(size)
	if len(cps) == 0 {
		return nil
	}
	return &cps[len(cps)-1]
}

// quorumSigned reports whether more than half of the active agencies of
// this node's registry signed cp, each signature checked on its own.
func (n *Node) quorumSigned(cp *Checkpoint) bool {
	signed := map[string]bool{}
	for _, s := range cp.Signatures {
		if s.Size != cp.Size || s.Root != cp.Root || s.StateHash != cp.StateHash || signed[s.Agency] {
			continue
		}
		ag, err := n.l.Agency(s.Agency)
		if err != nil || ag.Status != "active" {
			continue
		}
		if verifyCheckpoint(&ag, s, n.l) == nil {
			signed[s.Agency] = true
		}
	}
	return len(signed)*2 > n.cps.activeAgencies()
}

// restoreCarried restores the ledger from a Raft snapshot stream,
// checking it against the checkpoint it carries as well as the ones
// this node keeps.
func (n *Node) restoreCarried(r io.Reader) error {
	cp, rest, err := readCarried(r)
	if err != nil {
		return err
	}
	return n.l.Restore(rest, func(h ledger.SnapshotHeader, sl *ledger.Ledger) error {
		if cp != nil {
			if err := n.checkCarried(cp, h, sl); err != nil {
				return err
			}
		}
		return n.verifySnapshot(h, sl)
	})
}

func (n *Node) checkCarried(cp *Checkpoint, h ledger.SnapshotHeader, sl *ledger.Ledger) error {
	if cp.Size > h.Size {
		return fmt.Errorf("it carries a checkpoint at size %d, beyond its own size %d", cp.Size, h.Size)
	}
	if !n.quorumSigned(cp) {
		// signed with keys this node's registry does not hold yet (a
		// rotation after what it holds): only its kept checkpoints apply
		n.log.Warn("the snapshot's checkpoint is not signed by a quorum of the agencies this node knows; checking it against this node's own checkpoints only", "size", cp.Size)
		return nil
	}
	root, err1 := sl.RootAt(cp.Size)
	state, err2 := sl.StateHashAt(cp.Size)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if root != cp.Root || state != cp.StateHash {
		return fmt.Errorf("at size %d, where the checkpoint it carries was co-signed by a quorum (root %s state %s), the snapshot has root %s state %s",
			cp.Size, cp.Root, cp.StateHash, root, state)
	}
	return nil
}
