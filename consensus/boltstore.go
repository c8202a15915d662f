package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// boltOpenTimeoutDefault is how long OpenBoltStore waits for the file lock
// when BoltStoreOptions.Timeout is zero. bbolt's own zero means "wait
// forever", which would hang a second process started on the same data
// directory instead of telling the operator.
const boltOpenTimeoutDefault = 1 * time.Second

// boltStoreFormat is the on-disk format version written to the meta bucket
// when the file is created and checked at every open, so that a future
// change of the log encoding is detected instead of misread.
const boltStoreFormat = 1

// Bucket and key names in raft.db.
var (
	bucketLogs     = []byte("logs")   // big-endian uint64 index → encoded raft.Log
	bucketStable   = []byte("stable") // raft's StableStore keys (term, vote)
	bucketMeta     = []byte("meta")   // this store's own bookkeeping
	keyFormat      = []byte("format")
	keyCommitIndex = []byte("commit_index")
)

// logsFillPercent is how full bbolt fills a logs page before splitting it
// (its maximum): appends never land inside a page.
const logsFillPercent = 1.0

// uint64ValueSize is the size in bytes of a SetUint64 value and a logs key.
const uint64ValueSize = 8

var (
	// ErrKeyNotFound is returned by BoltStore.Get for a key that was never
	// Set. Its text must stay exactly "not found": hashicorp/raft compares
	// err.Error() with that string (api.go NewRaft, raft.go) to tell a fresh
	// node from a broken store, as its InmemStore does.
	ErrKeyNotFound = errors.New("not found")

	// ErrLogGap is returned by BoltStore.StoreLogs when a batch is not
	// contiguous, or does not start right after the last stored index. The
	// store declares itself monotonic (raft.MonotonicLogStore), so raft never
	// asks for this; getting it means a bug, and refusing keeps the log dense.
	ErrLogGap = errors.New("consensus: raft log entries not contiguous")

	// ErrCorruptLog is returned when a stored value cannot be decoded or does
	// not match its key: the file was damaged or written by something else.
	ErrCorruptLog = errors.New("consensus: corrupt raft log store")
)

// BoltStoreOptions tune OpenBoltStore. The zero value is the production
// setting.
type BoltStoreOptions struct {
	// NoSync skips fsync on commit. Tests only: never in production, because
	// raft acknowledges an entry as soon as StoreLogs returns, so an entry
	// lost in a crash may be one a quorum already counted.
	NoSync bool
	// Timeout bounds the wait for the file lock held by another process.
	// Zero means boltOpenTimeoutDefault (1s); negative is an error.
	Timeout time.Duration
}

// BoltStore is raaft's raft log store and stable store on one bbolt file
// (raft.db). It exists because hashicorp/raft v1.8 and raft-boltdb/v2 do not
// build together, and it adds what raft-boltdb lacks: it is a
// raft.CommitTrackingLogStore (so a restart replays committed entries before
// NewRaft returns, with Config.RestoreCommittedLogs) and a
// raft.MonotonicLogStore.
//
// Every method is safe for concurrent use. Each write is one bbolt
// transaction, so it costs two fdatasync calls unless NoSync is set; put
// raft.NewLogCache in front for reads.
type BoltStore struct {
	db *bbolt.DB

	// stagedMu guards staged: the commit index raft asked to persist with
	// the next StoreLogs (zero: nothing staged).
	stagedMu sync.Mutex
	staged   uint64
}

var (
	_ raft.LogStore               = (*BoltStore)(nil)
	_ raft.StableStore            = (*BoltStore)(nil)
	_ raft.CommitTrackingLogStore = (*BoltStore)(nil)
	_ raft.MonotonicLogStore      = (*BoltStore)(nil)
)

// OpenBoltStore opens (creating if needed) the bbolt file at path. The file
// is opened with NoFreelistSync and the map freelist, as Vault, rqlite and
// etcd do: bbolt otherwise rewrites its whole freelist on every commit, which
// after a burst of truncated log gets slower with every write. The cost is a
// freelist rebuild (a scan of the file) at open.
func OpenBoltStore(path string, opts BoltStoreOptions) (*BoltStore, error) {
	timeout := opts.Timeout
	if timeout < 0 {
		return nil, fmt.Errorf("open raft store %s: Timeout %v is negative", path, timeout)
	}
	if timeout == 0 {
		timeout = boltOpenTimeoutDefault
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        timeout,
		NoSync:         opts.NoSync,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open raft store %s (is another process using it?): %w", path, err)
	}
	if err := db.Update(initBuckets); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open raft store %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// initBuckets creates the buckets of a new file and checks the format
// version of an existing one.
func initBuckets(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketLogs, bucketStable, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keyFormat)
	if v == nil {
		return meta.Put(keyFormat, uint64Bytes(boltStoreFormat))
	}
	if len(v) != uint64ValueSize || binary.BigEndian.Uint64(v) != boltStoreFormat {
		return fmt.Errorf("%w: format %x, want %d", ErrCorruptLog, v, boltStoreFormat)
	}
	return nil
}

// Close closes the file. The store must not be used afterwards.
func (s *BoltStore) Close() error {
	return s.db.Close()
}

// FirstIndex returns the first stored index, 0 if the log is empty.
func (s *BoltStore) FirstIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(bucketLogs).Cursor().First()
		idx = indexOfKey(k)
		return nil
	})
	return idx, err
}

// LastIndex returns the last stored index, 0 if the log is empty.
func (s *BoltStore) LastIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		idx = lastIndex(tx)
		return nil
	})
	return idx, err
}

// GetLog reads the entry at index into log, or returns raft.ErrLogNotFound.
func (s *BoltStore) GetLog(index uint64, log *raft.Log) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketLogs).Get(uint64Bytes(index))
		if v == nil {
			return raft.ErrLogNotFound
		}
		if err := decodeLog(v, log); err != nil {
			return fmt.Errorf("log %d: %w", index, err)
		}
		if log.Index != index {
			return fmt.Errorf("%w: key %d holds log %d", ErrCorruptLog, index, log.Index)
		}
		return nil
	})
}

// StoreLog stores one entry; see StoreLogs.
func (s *BoltStore) StoreLog(log *raft.Log) error {
	return s.StoreLogs([]*raft.Log{log})
}

// StoreLogs appends logs in one transaction, together with the commit index
// last staged by StageCommitIndex (raft.CommitTrackingLogStore requires the
// two to be atomic). The batch must be contiguous and start right after
// LastIndex (or anywhere in an empty store); otherwise ErrLogGap.
func (s *BoltStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	for i := 1; i < len(logs); i++ {
		if logs[i].Index != logs[i-1].Index+1 {
			return fmt.Errorf("%w: %d follows %d in one batch", ErrLogGap, logs[i].Index, logs[i-1].Index)
		}
	}
	s.stagedMu.Lock()
	staged := s.staged
	s.stagedMu.Unlock()
	return s.db.Update(func(tx *bbolt.Tx) error {
		last := lastIndex(tx)
		if first := logs[0].Index; first == 0 || (last != 0 && first != last+1) {
			return fmt.Errorf("%w: batch starts at %d, last stored is %d", ErrLogGap, first, last)
		}
		b := tx.Bucket(bucketLogs)
		// Logs only ever append (keys are increasing indexes): split full
		// pages full, not at bbolt's default half, so a batch rewrites
		// fewer pages.
		b.FillPercent = logsFillPercent
		for _, l := range logs {
			if err := b.Put(uint64Bytes(l.Index), encodeLog(l)); err != nil {
				return fmt.Errorf("store log %d: %w", l.Index, err)
			}
		}
		if staged == 0 {
			return nil
		}
		return tx.Bucket(bucketMeta).Put(keyCommitIndex, uint64Bytes(staged))
	})
}

// DeleteRange deletes the entries lo..hi inclusive. Deleting the whole log
// (raft does it after installing a snapshot, as the store is monotonic) drops
// and recreates the bucket, which frees its pages without visiting each key;
// otherwise a cursor walks only the keys in the range.
func (s *BoltStore) DeleteRange(lo, hi uint64) error {
	if lo > hi {
		return nil
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLogs).Cursor()
		firstKey, _ := c.First()
		lastKey, _ := c.Last()
		if firstKey == nil {
			return nil
		}
		if lo <= indexOfKey(firstKey) && hi >= indexOfKey(lastKey) {
			if err := tx.DeleteBucket(bucketLogs); err != nil {
				return err
			}
			_, err := tx.CreateBucket(bucketLogs)
			return err
		}
		// Seek again after each Delete rather than calling Next: where a
		// bbolt cursor points after Delete is not a documented guarantee.
		k, _ := c.Seek(uint64Bytes(lo))
		for k != nil {
			idx := indexOfKey(k)
			if idx > hi {
				break
			}
			if err := c.Delete(); err != nil {
				return fmt.Errorf("delete log %d: %w", idx, err)
			}
			k, _ = c.Seek(uint64Bytes(idx))
		}
		return nil
	})
}

// IsMonotonic implements raft.MonotonicLogStore: the log has no gaps, so
// after a snapshot restore raft deletes the old log instead of leaving a gap.
func (s *BoltStore) IsMonotonic() bool { return true }

// StageCommitIndex remembers idx; the next StoreLogs persists it in the same
// transaction as its entries (raft.CommitTrackingLogStore contract). Raft
// calls it from its main goroutine just before StoreLogs.
func (s *BoltStore) StageCommitIndex(idx uint64) error {
	s.stagedMu.Lock()
	s.staged = idx
	s.stagedMu.Unlock()
	return nil
}

// GetCommitIndex returns the last persisted commit index, never more than
// LastIndex, and 0 if none was ever persisted.
func (s *BoltStore) GetCommitIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyCommitIndex)
		if v == nil {
			return nil
		}
		if len(v) != uint64ValueSize {
			return fmt.Errorf("%w: commit index is %d bytes", ErrCorruptLog, len(v))
		}
		idx = min(binary.BigEndian.Uint64(v), lastIndex(tx))
		return nil
	})
	return idx, err
}

// Set stores val under key in the stable bucket.
func (s *BoltStore) Set(key, val []byte) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketStable).Put(key, val)
	})
}

// Get returns a copy of the value stored under key, or ErrKeyNotFound.
func (s *BoltStore) Get(key []byte) ([]byte, error) {
	var val []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketStable).Get(key)
		if v == nil {
			return ErrKeyNotFound
		}
		val = append(make([]byte, 0, len(v)), v...)
		return nil
	})
	return val, err
}

// SetUint64 stores val (8 bytes, big-endian) under key in the stable bucket;
// it shares the key space with Set.
func (s *BoltStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, uint64Bytes(val))
}

// GetUint64 returns the value stored by SetUint64, or 0 and no error if key
// is missing (raft.StableStore contract, and what raft's InmemStore does).
func (s *BoltStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if errors.Is(err, ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != uint64ValueSize {
		return 0, fmt.Errorf("%w: stable key %q holds %d bytes, not a uint64", ErrCorruptLog, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// BoltStoreStats is a snapshot of the file's size and freelist, for metrics:
// bbolt never shrinks its file, so free pages are space only an offline
// `bbolt compact` returns.
type BoltStoreStats struct {
	SizeBytes      int64 // file size as bbolt sees it
	PageSizeBytes  int   // bbolt page size
	FreePages      int   // pages on the freelist, reusable now
	PendingPages   int   // pages freed but still visible to an open read transaction
	FreeBytes      int   // bytes in free pages
	FreelistBytes  int   // bytes the freelist itself uses (in memory, as it is not synced)
	OpenReadTxns   int   // read transactions open now
	StartedReadTxn int   // read transactions started since open
}

// Stats returns the current BoltStoreStats.
func (s *BoltStore) Stats() (BoltStoreStats, error) {
	st := s.db.Stats()
	out := BoltStoreStats{
		PageSizeBytes:  s.db.Info().PageSize,
		FreePages:      st.FreePageN,
		PendingPages:   st.PendingPageN,
		FreeBytes:      st.FreeAlloc,
		FreelistBytes:  st.FreelistInuse,
		OpenReadTxns:   st.OpenTxN,
		StartedReadTxn: st.TxN,
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		out.SizeBytes = tx.Size()
		return nil
	})
	return out, err
}

// lastIndex returns the highest stored index, 0 if none.
func lastIndex(tx *bbolt.Tx) uint64 {
	k, _ := tx.Bucket(bucketLogs).Cursor().Last()
	return indexOfKey(k)
}

func uint64Bytes(v uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, uint64ValueSize), v)
}

// indexOfKey decodes a logs key; nil (no key) is index 0.
func indexOfKey(k []byte) uint64 {
	if len(k) != uint64ValueSize {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

// Log value encoding, version 1. Fixed-width big-endian fields, so every log
// has exactly one encoding (decodeLog rejects anything else):
//
//	version   1 byte  (logEncodingV1)
//	index     8 bytes
//	term      8 bytes
//	type      1 byte
//	appended  8 bytes Unix seconds (signed) + 4 bytes nanoseconds (< 1e9)
//	data      4 bytes length + bytes
//	ext       4 bytes length + bytes
//
// AppendedAt comes back in UTC without a monotonic reading; the instant is
// exact, including the zero time. A raft.Log is at most bbolt's value limit
// (2 GiB), so 4-byte lengths are enough.
const (
	logEncodingV1     = 1
	logHeaderBytes    = 1 + 8 + 8 + 1 + 8 + 4
	logLenPrefixBytes = 4
	nanosPerSecond    = 1_000_000_000
)

func encodeLog(l *raft.Log) []byte {
	b := make([]byte, 0, logHeaderBytes+2*logLenPrefixBytes+len(l.Data)+len(l.Extensions))
	b = append(b, logEncodingV1)
	b = binary.BigEndian.AppendUint64(b, l.Index)
	b = binary.BigEndian.AppendUint64(b, l.Term)
	b = append(b, byte(l.Type))
	b = binary.BigEndian.AppendUint64(b, uint64(l.AppendedAt.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(l.AppendedAt.Nanosecond()))
	b = binary.BigEndian.AppendUint32(b, uint32(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(l.Extensions)))
	return append(b, l.Extensions...)
}

// decodeLog decodes b into l, copying the byte fields (bbolt's memory is
// only valid inside its transaction). Empty Data or Extensions decode as nil.
func decodeLog(b []byte, l *raft.Log) error {
	if len(b) < logHeaderBytes+2*logLenPrefixBytes {
		return fmt.Errorf("%w: log value of %d bytes is too short", ErrCorruptLog, len(b))
	}
	if b[0] != logEncodingV1 {
		return fmt.Errorf("%w: log encoding version %d", ErrCorruptLog, b[0])
	}
	nanos := binary.BigEndian.Uint32(b[26:30])
	if nanos >= nanosPerSecond {
		return fmt.Errorf("%w: appended-at nanoseconds %d", ErrCorruptLog, nanos)
	}
	data, rest, err := cutLenPrefixed(b[logHeaderBytes:])
	if err != nil {
		return err
	}
	ext, rest, err := cutLenPrefixed(rest)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes after log", ErrCorruptLog, len(rest))
	}
	*l = raft.Log{
		Index:      binary.BigEndian.Uint64(b[1:9]),
		Term:       binary.BigEndian.Uint64(b[9:17]),
		Type:       raft.LogType(b[17]),
		AppendedAt: time.Unix(int64(binary.BigEndian.Uint64(b[18:26])), int64(nanos)).UTC(),
		Data:       cloneOrNil(data),
		Extensions: cloneOrNil(ext),
	}
	return nil
}

// cutLenPrefixed splits a 4-byte-length-prefixed field off the front of b.
func cutLenPrefixed(b []byte) (field, rest []byte, err error) {
	if len(b) < logLenPrefixBytes {
		return nil, nil, fmt.Errorf("%w: truncated length", ErrCorruptLog)
	}
	n := binary.BigEndian.Uint32(b)
	b = b[logLenPrefixBytes:]
	if uint64(n) > uint64(len(b)) {
		return nil, nil, fmt.Errorf("%w: field of %d bytes, %d left", ErrCorruptLog, n, len(b))
	}
	return b[:n], b[n:], nil
}

func cloneOrNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
