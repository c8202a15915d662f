package consensus

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/raaft/raaft/ledger"
)

// checkpointsDoc is checkpoints.json: the quorum-cosigned checkpoints this
// node has seen, newest last. Each signature was verified when it was
// received; `raaft ledger verify --checkpoint` verifies them again.
type checkpointsDoc struct {
	Format      string        `json:"format"`
	Genesis     ledger.Hash   `json:"genesis"`
	Checkpoints []*Checkpoint `json:"checkpoints"`
}

// CheckpointFileFormat names the format of checkpoints.json, the node's
// own record (an auditor exports the API's form: raaft ledger checkpoints).
const CheckpointFileFormat = "raaft-node-checkpoints/1"

func (c *checkpoints) path() string { return filepath.Join(c.n.cfg.DataDir, checkpointsFile) }

// load reads checkpoints.json, if there is one. A file that cannot be
// read is logged and set aside: the checkpoints are the federation's and
// come back with the next exchange.
func (c *checkpoints) load() {
	raw, err := os.ReadFile(c.path())
	if os.IsNotExist(err) {
		return
	}
	var doc checkpointsDoc
	if err == nil {
		err = json.Unmarshal(raw, &doc)
	}
	g, gerr := c.n.l.GenesisHash()
	if err == nil && (doc.Format != CheckpointFileFormat || gerr != nil || doc.Genesis != g) {
		err = fmt.Errorf("format %q genesis %s, want %q genesis %s", doc.Format, doc.Genesis, CheckpointFileFormat, g)
	}
	if err != nil {
		c.n.log.Error("checkpoints.json cannot be used; moving it aside", "err", err)
		os.Rename(c.path(), c.path()+".unreadable")
		return
	}
	c.kept = doc.Checkpoints
	slices.SortFunc(c.kept, func(a, b *Checkpoint) int { return cmp.Compare(a.Size, b.Size) })
}

// keepLocked adds a quorum-cosigned checkpoint to the kept list, in
// place of a kept one at the same size; persist writes it out.
func (c *checkpoints) keepLocked(cp *Checkpoint) {
	c.kept = slices.DeleteFunc(c.kept, func(k *Checkpoint) bool { return k.Size == cp.Size })
	c.kept = append(c.kept, cp)
	slices.SortFunc(c.kept, func(a, b *Checkpoint) int { return cmp.Compare(a.Size, b.Size) })
	c.dirty = true
}

// persist adds every checkpoint that now has a quorum of signatures to
// the kept list and rewrites checkpoints.json if the list changed.
func (c *checkpoints) persist() {
	active := c.activeAgencies()
	c.mu.Lock()
	changed := c.dirty
	c.dirty = false
	for _, cp := range c.bySize { //det:ok collected, then sorted
		if len(cp.Signatures)*2 <= active {
			continue
		}
		i := slices.IndexFunc(c.kept, func(k *Checkpoint) bool { return k.Size == cp.Size })
		switch {
		case i < 0:
			k := clone(cp)
			k.QuorumCosigned = true
			c.kept = append(c.kept, k)
			changed = true
		case len(c.kept[i].Signatures) < len(cp.Signatures) && c.kept[i].Root == cp.Root && c.kept[i].StateHash == cp.StateHash:
			c.kept[i] = clone(cp)
			c.kept[i].QuorumCosigned = true
			changed = true
		}
	}
	if !changed {
		c.mu.Unlock()
		return
	}
	slices.SortFunc(c.kept, func(a, b *Checkpoint) int { return cmp.Compare(a.Size, b.Size) })
	if len(c.kept) > checkpointsPersistedMax {
		c.kept = slices.Clone(c.kept[len(c.kept)-checkpointsPersistedMax:])
	}
	doc := checkpointsDoc{Format: CheckpointFileFormat, Checkpoints: c.kept}
	c.mu.Unlock()
	g, err := c.n.l.GenesisHash()
	if err == nil {
		doc.Genesis = g
		err = writeJSONAtomic(c.path(), &doc)
	}
	if err != nil {
		c.n.log.Warn("checkpoints.json", "err", err)
	}
}

// cosignedUpTo returns the kept quorum-cosigned checkpoints of at most size entries.
func (c *checkpoints) cosignedUpTo(size uint64) []Checkpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Checkpoint
	for _, cp := range c.kept {
		if cp.Size <= size {
			out = append(out, *clone(cp))
		}
	}
	return out
}

// Checkpoints returns the quorum-cosigned checkpoints this node keeps
// (checkpoints.json), oldest first.
func (n *Node) Checkpoints() []Checkpoint { return n.cps.cosignedUpTo(^uint64(0)) }

// ReadCheckpoints reads the checkpoints a node kept in its Raft data
// directory (checkpoints.json), for offline tools; nil if it has none.
func ReadCheckpoints(raftDir string) (genesis ledger.Hash, cps []Checkpoint, err error) {
	raw, err := os.ReadFile(filepath.Join(raftDir, checkpointsFile))
	if os.IsNotExist(err) {
		return genesis, nil, nil
	}
	if err != nil {
		return genesis, nil, err
	}
	var doc checkpointsDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return genesis, nil, fmt.Errorf("%s: %w", checkpointsFile, err)
	}
	for _, cp := range doc.Checkpoints {
		cps = append(cps, *cp)
	}
	return doc.Genesis, cps, nil
}

// writeJSONAtomic writes v to path through a temporary file, fsynced and
// renamed, so a crash leaves the old file or the new one.
func writeJSONAtomic(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
