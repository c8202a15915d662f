package consensus

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raaft/raaft/ledger"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// readOnlyLockTimeout is how long OpenRaftLogReadOnly waits for the file
// lock a running node holds: an audit says so rather than wait.
const readOnlyLockTimeout = time.Second

// snapshotsDir is where raft's FileSnapshotStore keeps snapshots under
// the node's raft directory, one directory each with meta.json and state.bin.
const snapshotsDir = "snapshots"

// RaftLogReader reads a stopped node's Raft log (raft.db) and snapshots
// without writing to them, for `raaft ledger verify`: bbolt's ReadOnly
// (no byte, no modification time changes) after ledger.CheckBoltFile has
// checked the file. It implements ledger.RaftLog. Not safe for
// concurrent use.
type RaftLogReader struct {
	db  *bbolt.DB
	dir string
}

var _ ledger.RaftLog = (*RaftLogReader)(nil)

// OpenRaftLogReadOnly opens DIR/raft.db (DIR is the node's raft
// directory, the consensus DataDir). It returns an error wrapping
// os.ErrNotExist if there is no raft.db, ledger.ErrDamaged if the file is
// not a whole bbolt database or lacks the log store's buckets.
func OpenRaftLogReadOnly(dir string) (*RaftLogReader, error) {
	path := filepath.Join(dir, "raft.db")
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	if _, err := ledger.CheckBoltFile(path); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: readOnlyLockTimeout, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: locked by another process (is the node still running?): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s read-only: %w", path, err)
	}
	err = db.View(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketLogs, bucketStable, bucketMeta} {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: bucket %q is missing: not a raft log store", ledger.ErrDamaged, name)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &RaftLogReader{db: db, dir: dir}, nil
}

// ReadLogBounds returns the first and last index in the Raft log at path
// (a raft.db), 0 and 0 if it is empty, opening it read-only.
func ReadLogBounds(path string) (first, last uint64, err error) {
	r, err := OpenRaftLogReadOnly(filepath.Dir(path))
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	first, last = r.logBounds()
	return first, last, nil
}

// Close closes raft.db.
func (r *RaftLogReader) Close() error { return r.db.Close() }

func (r *RaftLogReader) logBounds() (first, last uint64) {
	_ = r.db.View(func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(bucketLogs).Cursor().First()
		first, last = indexOfKey(k), lastIndex(tx)
		return nil
	})
	return first, last
}

// LastIndex is the highest index the node holds: the log's last, or the
// newest snapshot's, or the applied index of the ledger inside that
// snapshot, which may run ahead of the snapshot's index (fsm.Snapshot
// copies the ledger after raft picks the index). A follower that installed
// the snapshot and stopped before receiving more log holds a ledger that
// far ahead.
func (r *RaftLogReader) LastIndex() (uint64, error) {
	_, last := r.logBounds()
	snapIdx, state, err := newestSnapshot(filepath.Join(r.dir, snapshotsDir))
	if err != nil || state == "" {
		return last, err
	}
	applied, err := snapshotAppliedIndex(state)
	if err != nil {
		return 0, fmt.Errorf("snapshot %s: %w", state, err)
	}
	return max(last, snapIdx, applied), nil
}

// Commands calls fn for each command entry above index after, in order.
func (r *RaftLogReader) Commands(after uint64, fn func(index uint64, data []byte) error) error {
	return r.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLogs).Cursor()
		for k, v := c.Seek(uint64Bytes(after + 1)); k != nil; k, v = c.Next() {
			var lg raft.Log
			if err := decodeLog(v, &lg); err != nil {
				return fmt.Errorf("raft log index %d: %w", indexOfKey(k), err)
			}
			if lg.Type != raft.LogCommand {
				continue
			}
			if err := fn(lg.Index, lg.Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// newestSnapshot returns the index and state file of the newest complete
// snapshot in dir (raft's FileSnapshotStore layout), 0 and "" if none.
func newestSnapshot(dir string) (index uint64, state string, err error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	for _, e := range ents {
		if !e.IsDir() || filepath.Ext(e.Name()) == ".tmp" {
			continue // raft writes a snapshot under NAME.tmp and renames it when complete
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "meta.json"))
		if err != nil {
			continue // not a snapshot
		}
		var meta struct{ Index uint64 }
		if err := json.Unmarshal(b, &meta); err != nil {
			return 0, "", fmt.Errorf("snapshot %s: meta.json: %w", e.Name(), err)
		}
		if meta.Index >= index {
			index, state = meta.Index, filepath.Join(dir, e.Name(), "state.bin")
		}
	}
	return index, state, nil
}

// snapshotAppliedIndex reads the applied index a Raft snapshot's ledger
// holds from its header (after the checkpoint it may carry).
func snapshotAppliedIndex(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	_, rest, err := readCarried(f)
	if err != nil {
		return 0, err
	}
	h, err := ledger.ReadSnapshotHeader(rest)
	return h.AppliedIndex, err
}
