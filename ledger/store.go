package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. The state buckets are hashed by StateHash in this order;
// the local buckets are per-node bookkeeping that a replay of the accepted
// entries cannot reproduce and so are not part of the state hash:
// the last applied Raft index, and remembered results of rejected commands.
var (
	bMeta        = []byte("meta")
	bAgencies    = []byte("agencies")
	bKids        = []byte("kids")
	bNodeKeys    = []byte("node_keys")
	bProposals   = []byte("proposals")
	bListings    = []byte("listings") // ordinal (4 bytes, big-endian) -> Listing
	bRes         = []byte("reservations")
	bResByAgency = []byte("res_by_agency")
	bDue         = []byte("due")
	bEntries     = []byte("entries") // seq -> entry value (entry.go): record, hash, tree nodes, idempotency key, listings touched
	bHead        = []byte("head")    // the tree head: size, compact range, newest entry hash, ledger clock

	// fees: see accounts.go, obligation.go, netting.go
	bFeeAccounts    = []byte("fee_accounts")     // agency\x00kind -> Account
	bFeeTransfers   = []byte("fee_transfers")    // seq, n -> Transfer
	bFeePending     = []byte("fee_pending")      // seq, n of unresolved pending transfers
	bFeeAgencyXfers = []byte("fee_agency_xfers") // agency\x00 seq, n
	bFeeOblXfers    = []byte("fee_obl_xfers")    // obligation, seq, n
	bFeeRunXfers    = []byte("fee_run_xfers")    // run, seq, n
	bFeeObligations = []byte("fee_obligations")  // id -> Obligation
	bFeeByRes       = []byte("fee_by_res")       // reservation -> PlacementFee
	bFeeByAgency    = []byte("fee_by_agency")    // agency\x00 id -> role
	bFeeUnsettled   = []byte("fee_unsettled")    // ids of obligations not settled or written off
	bFeePayments    = []byte("fee_payments")     // id -> Payment
	bFeeRuns        = []byte("fee_runs")         // id -> NettingRun

	bLocal    = []byte("local")
	bRejected = []byte("rejected")

	stateBuckets = [][]byte{bMeta, bHead, bAgencies, bKids, bNodeKeys, bProposals, bListings,
		bRes, bResByAgency, bDue, bEntries,
		bFeeAccounts, bFeeTransfers, bFeePending, bFeeAgencyXfers, bFeeOblXfers, bFeeRunXfers,
		bFeeObligations, bFeeByRes, bFeeByAgency, bFeeUnsettled, bFeePayments, bFeeRuns}
	localBuckets = [][]byte{bLocal, bRejected}
)

// Keys of the head bucket, which every batch writes: a small bucket, so
// bbolt keeps it inline in the root page (seen on a dev ledger) while it
// is under a quarter page, and every commit rewrites the root page anyway.
var (
	kClock = []byte("clock_ms")
	kSize  = []byte("tree_size")
	kHead  = []byte("head")
	kRange = []byte("range")
)

// Meta keys.
var (
	kGenesisHash = []byte("genesis_hash")
	kPolicy      = []byte("policy")
	kFees        = []byte("fee_schedule")
	kOrdinalNext = []byte("ordinal_next")
	kApplied     = []byte("applied_index")
	kFormat      = []byte("format")
)

// storeFormat is the layout of ledger.db, recorded at genesis. 5: one
// value per entry holds its record, hash, the state hash after it
// (commitment.go), tree nodes, idempotency key and the listings it
// touched (entry.go); the tree head has a bucket of its own, with the
// state sum; the state cache derives the indexes by random keys;
// listings and reservations are stored in binary (record_codec.go). A
// file of another format is refused rather than misread.
const storeFormat = 5

// checkFormat refuses a ledger written in another layout. An empty file
// (no genesis yet) has none.
func checkFormat(tx *bolt.Tx) error {
	m := tx.Bucket(bMeta)
	if m.Get(kGenesisHash) == nil {
		return nil
	}
	if f := getU64(m, kFormat); f != storeFormat {
		return fmt.Errorf("%w %d; this raaft reads format %d", ErrFormat, f, storeFormat)
	}
	return nil
}

// Options configure a Ledger. The zero value is the production setting.
type Options struct {
	// NoSync skips fsync on commit. Tests only: a crash may lose applied
	// entries that Raft believes are applied.
	NoSync bool
	// Strict runs Check after every batch and panics on a broken invariant
	// (bbolt's StrictMode, applied to the domain). For tests and audits.
	Strict bool
	// Workers bounds the goroutines verifying signatures in a batch; 0 means GOMAXPROCS.
	Workers int
	// DeferSync commits without fsync and fsyncs on Close, relying on the
	// Raft log for durability; see "Deferred sync" in syncmark.go for why
	// that is safe and what Open then refuses. Ignored, every commit
	// fsynced, where the OS boot id cannot be read.
	DeferSync bool
	// BootID returns the running OS boot's id; nil reads Linux's
	// /proc/sys/kernel/random/boot_id. Tests set it to act out a reboot.
	BootID func() (string, error)
}

// Ledger is the deterministic state machine and permanent store of one
// node. ApplyBatch must be called from one goroutine at a time (Raft's FSM
// goroutine); queries may run concurrently with it.
type Ledger struct {
	path string
	opts Options

	mu sync.RWMutex // held for writing only while the db file is swapped (Restore, Close)
	db *bolt.DB

	deferred bool   // commits skip fsync (Options.DeferSync in effect)
	boot     string // the boot id written in the sync marker

	keys  *keyCache
	index *searchIndex
	cache *stateCache
	own   atomic.Pointer[Signer] // TrustOwnSignatures
	owned atomic.Uint64          // signatures found made by own, not verified again
}

// TrustOwnSignatures tells the ledger which signer this node signs its
// agency's commands with: a command that signer made (recently, with the
// key the command names, over exactly these bytes) is known to verify, so
// ApplyBatch does not verify it again. Other nodes verify it in full.
// Authorisation against the registry is unchanged.
func (l *Ledger) TrustOwnSignatures(s *Signer) { l.own.Store(s) }

// OwnSignaturesTrusted is how many signatures ApplyBatch found made by
// the signer TrustOwnSignatures named, and so did not verify again.
func (l *Ledger) OwnSignaturesTrusted() uint64 { return l.owned.Load() }

// Hash is a SHA-256 digest, shown as hex.
type Hash [32]byte

// MarshalText encodes the hash as lower-case hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h[:])), nil }

// UnmarshalText decodes a hex hash.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return errors.New("hash: expected 64 hex characters")
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// String returns the hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

func boltOptions(noSync bool) *bolt.Options {
	// The map freelist without syncing it keeps commits small after bursts
	// (bbolt#401); the price is a freelist rebuild on open.
	return &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType, NoSync: noSync}
}

// Open opens (creating if needed) the ledger database at path. It returns
// ErrUnsynced, opening nothing, if the file was written without fsync
// (Options.DeferSync) and the machine has restarted since.
func Open(path string, opts Options) (*Ledger, error) {
	l := &Ledger{path: path, opts: opts}
	bootID := opts.BootID
	if bootID == nil {
		bootID = readBootID
	}
	boot, err := bootID()
	if err != nil {
		boot = ""
	}
	if err := checkMark(path, boot); err != nil {
		return nil, err
	}
	if opts.DeferSync && !opts.NoSync && boot != "" {
		// durably marked before the first unsynced commit
		if err := writeMark(path, syncMark{BootID: boot}); err != nil {
			return nil, err
		}
		l.deferred, l.boot = true, boot
	}
	// a damaged file can make bbolt panic or fault while it reads pages
	if err := preflight(path); err != nil {
		return nil, err
	}
	if err := guardFaults(l.openDB); err != nil {
		return nil, err
	}
	return l, nil
}

// Deferred reports whether commits skip fsync (Options.DeferSync in effect).
func (l *Ledger) Deferred() bool { return l.deferred }

func (l *Ledger) openDB() error {
	db, err := bolt.Open(l.path, 0o600, boltOptions(l.opts.NoSync || l.deferred))
	if err != nil {
		return fmt.Errorf("ledger: open %s: %w", l.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range append(append([][]byte{}, stateBuckets...), localBuckets...) {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return fmt.Errorf("ledger: init buckets: %w", err)
	}
	l.db = db
	l.keys = newKeyCache()
	l.index = newSearchIndex()
	l.cache = newStateCache()
	if err := db.View(checkFormat); err != nil {
		db.Close()
		return fmt.Errorf("ledger: open %s: %w", l.path, err)
	}
	if err := db.View(l.loadCaches); err != nil {
		db.Close()
		return fmt.Errorf("ledger: load caches: %w", err)
	}
	return nil
}

// Close closes the database. With deferred sync it first fsyncs it and
// then marks it clean, so a later boot may open it.
func (l *Ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db == nil {
		return nil
	}
	var errs []error
	if l.deferred {
		errs = append(errs, l.db.Sync())
	}
	errs = append(errs, l.db.Close())
	l.db = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ledger: close: %w", err)
	}
	if l.deferred {
		return writeMark(l.path, syncMark{BootID: l.boot, Clean: true})
	}
	return nil
}

// view runs fn in a read transaction.
func (l *Ledger) view(fn func(tx *bolt.Tx) error) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.db == nil {
		return ErrClosed
	}
	return l.db.View(fn)
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("%w: bucket value %q: %v", ErrCorrupt, k, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

// LastApplied returns the last Raft log index applied (0 if none).
func (l *Ledger) LastApplied() (idx uint64, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		idx = getU64(tx.Bucket(bLocal), kApplied)
		return nil
	})
	return idx, err
}

// Head is the ledger's current tree head: size, root, the newest entry
// hash and the state hash after it (commitment.go).
type Head struct {
	Size      uint64 `json:"size"`
	Root      Hash   `json:"root"`
	EntryHash Hash   `json:"entry_hash"`
	StateHash Hash   `json:"state_hash"`
	ClockMs   int64  `json:"clock_ms"`
}

// Head returns the current tree head.
func (l *Ledger) Head() (h Head, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		h, err = readHead(tx)
		return err
	})
	return h, err
}

func readHead(tx *bolt.Tx) (Head, error) {
	m := tx.Bucket(bHead)
	h := Head{Size: getU64(m, kSize), ClockMs: int64(getU64(m, kClock))}
	copy(h.EntryHash[:], m.Get(kHead))
	r, err := loadRange(m)
	if err != nil {
		return h, err
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return h, err
	}
	copy(h.Root[:], root)
	if h.Size > 0 {
		if h.StateHash, err = stateHashAt(tx, h.Size); err != nil {
			return h, err
		}
	}
	return h, nil
}

// InitGenesis applies a signed genesis document as entry 0 of an empty
// ledger. On a ledger that already has a genesis it checks that it is the
// same document (a node restarted with another federation's genesis stops).
func (l *Ledger) InitGenesis(doc []byte) error {
	g, err := VerifyGenesis(doc)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(doc)
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.db == nil {
		return ErrClosed
	}
	var a *applier
	err = l.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if have := m.Get(kGenesisHash); have != nil {
			if !bytes.Equal(have, sum[:]) {
				return ErrGenesisMismatch
			}
			return errAlreadyInit
		}
		a = newApplier(tx, l)
		return a.applyGenesis(g, doc, sum[:])
	})
	if errors.Is(err, errAlreadyInit) {
		return nil
	}
	if err != nil {
		return err
	}
	l.afterCommit(a)
	return nil
}

var errAlreadyInit = errors.New("already initialised")

// GenesisHash returns the SHA-256 of the genesis document, or ErrNoGenesis.
func (l *Ledger) GenesisHash() (h Hash, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bMeta).Get(kGenesisHash)
		if v == nil {
			return ErrNoGenesis
		}
		copy(h[:], v)
		return nil
	})
	return h, err
}

// StateHash returns a SHA-256 over every state bucket, key by key in
// bbolt's byte order. Two ledgers fed the same accepted entries have the
// same state hash whatever their Raft history (local buckets are excluded).
func (l *Ledger) StateHash() (h Hash, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		h, err = stateHash(tx)
		return err
	})
	return h, err
}

func stateHash(tx *bolt.Tx) (Hash, error) {
	d := sha256.New()
	var n [8]byte
	write := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		d.Write(n[:])
		d.Write(b)
	}
	for _, name := range stateBuckets {
		write(name)
		c := tx.Bucket(name).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			write(k)
			write(v)
		}
	}
	var h Hash
	copy(h[:], d.Sum(nil))
	return h, nil
}

// Snapshots. A snapshot is a versioned header followed by a consistent
// copy of ledger.db (bbolt Tx.WriteTo):
//
//	"raaft-snapshot\n" u8 version, u64 size, [32] root, [32] state hash,
//	u64 applied index, u32 crc32c of the header so far, then the file
//
// Restore checks the header, the file (CheckIntegrity: chain, tree and
// state sum) and that the file's head is the header's before it swaps
// files, and the caller may also check it against a co-signed checkpoint
// (SnapshotHeader, VerifyFunc): a damaged snapshot, or one from a damaged
// node, is refused and the ledger left as it was.
const (
	snapshotMagic   = "raaft-snapshot\n"
	snapshotVersion = 1
	snapshotHdrLen  = len(snapshotMagic) + 1 + 8 + 32 + 32 + 8 + 4
)

// ReadSnapshotHeader reads and checks a snapshot's header, leaving r at
// the start of its file.
func ReadSnapshotHeader(r io.Reader) (SnapshotHeader, error) {
	hb := make([]byte, snapshotHdrLen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return SnapshotHeader{}, fmt.Errorf("%w: header: %v", ErrBadSnapshot, err)
	}
	return decodeSnapshotHeader(hb)
}

// SnapshotHeader is what a snapshot says it holds.
type SnapshotHeader struct {
	Size         uint64
	Root         Hash
	StateHash    Hash
	AppliedIndex uint64
}

func (h *SnapshotHeader) encode() []byte {
	b := make([]byte, 0, snapshotHdrLen)
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = binary.BigEndian.AppendUint64(b, h.Size)
	b = append(b, h.Root[:]...)
	b = append(b, h.StateHash[:]...)
	b = binary.BigEndian.AppendUint64(b, h.AppliedIndex)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func decodeSnapshotHeader(b []byte) (SnapshotHeader, error) {
	var h SnapshotHeader
	n := len(snapshotMagic)
	switch {
	case len(b) != snapshotHdrLen || string(b[:n]) != snapshotMagic:
		return h, fmt.Errorf("%w: not a raaft snapshot", ErrBadSnapshot)
	case b[n] != snapshotVersion:
		return h, fmt.Errorf("%w: snapshot version %d; this raaft reads %d", ErrBadSnapshot, b[n], snapshotVersion)
	case crc32.Checksum(b[:snapshotHdrLen-4], crcTable) != binary.BigEndian.Uint32(b[snapshotHdrLen-4:]):
		return h, fmt.Errorf("%w: header checksum", ErrBadSnapshot)
	}
	b = b[n+1:]
	h.Size = binary.BigEndian.Uint64(b)
	copy(h.Root[:], b[8:40])
	copy(h.StateHash[:], b[40:72])
	h.AppliedIndex = binary.BigEndian.Uint64(b[72:80])
	return h, nil
}

// LedgerSnapshot is a point-in-time view of the ledger being written out.
type LedgerSnapshot struct {
	tx  *bolt.Tx
	hdr SnapshotHeader
}

// BeginSnapshot captures the ledger as it is now, in a read transaction,
// so that a snapshot holds exactly the state at the last applied index
// (Raft's FSM calls it between batches, and writes it out later with
// WriteTo, while batches go on). Release must be called.
func (l *Ledger) BeginSnapshot() (*LedgerSnapshot, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.db == nil {
		return nil, ErrClosed
	}
	tx, err := l.db.Begin(false)
	if err != nil {
		return nil, err
	}
	s := &LedgerSnapshot{tx: tx}
	head, err := readHead(tx)
	if err != nil {
		tx.Rollback()
		return nil, err
	}
	s.hdr = SnapshotHeader{Size: head.Size, Root: head.Root, StateHash: head.StateHash, AppliedIndex: getU64(tx.Bucket(bLocal), kApplied)}
	return s, nil
}

// Header is what the snapshot holds.
func (s *LedgerSnapshot) Header() SnapshotHeader { return s.hdr }

// WriteTo writes the header and the file.
func (s *LedgerSnapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(s.hdr.encode())
	if err != nil {
		return int64(n), err
	}
	m, err := s.tx.WriteTo(w)
	return int64(n) + m, err
}

// Release ends the read transaction. Idempotent.
func (s *LedgerSnapshot) Release() {
	if s.tx != nil {
		s.tx.Rollback()
		s.tx = nil
	}
}

// Snapshot writes a snapshot of the ledger as it is now to w.
func (l *Ledger) Snapshot(w io.Writer) error {
	s, err := l.BeginSnapshot()
	if err != nil {
		return err
	}
	defer s.Release()
	_, err = s.WriteTo(w)
	return err
}

// VerifyFunc checks a snapshot's header, and the ledger it holds (open,
// read only while it runs), before Restore installs it: the consensus
// layer compares them with the federation's co-signed checkpoints.
type VerifyFunc func(h SnapshotHeader, l *Ledger) error

// Restore replaces the database with the snapshot read from r: the file
// goes to a temporary path beside the database and is fsynced; its header
// and contents are checked (CheckIntegrity, the head against the header,
// then verify if not nil); then the file is renamed over the old one, so
// a crash leaves either the old or the new ledger, never a mix. A
// snapshot that fails a check is refused (ErrBadSnapshot) and the ledger
// is left as it was.
func (l *Ledger) Restore(r io.Reader, verify VerifyFunc) error {
	hdr, err := ReadSnapshotHeader(r)
	if err != nil {
		return err
	}
	tmp := l.path + ".restore"
	if err := writeFileSync(tmp, r); err != nil {
		return err
	}
	if err := checkSnapshotFile(tmp, hdr, verify); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("ledger: restore refused: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db != nil {
		if err := l.db.Close(); err != nil {
			return fmt.Errorf("ledger: restore: close: %w", err)
		}
		l.db = nil
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return fmt.Errorf("ledger: restore: rename: %w", err)
	}
	if err := syncDir(filepath.Dir(l.path)); err != nil {
		return err
	}
	return l.openDB()
}

// checkSnapshotFile opens a restored file as a ledger and checks it.
func checkSnapshotFile(path string, hdr SnapshotHeader, verify VerifyFunc) error {
	if err := checkLedgerFile(path); err != nil {
		return fmt.Errorf("%w: not a ledger: %v", ErrBadSnapshot, err)
	}
	sl, err := Open(path, Options{NoSync: true})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	defer sl.Close()
	if err := sl.CheckIntegrity(0); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	head, err := sl.Head()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	applied, _ := sl.LastApplied()
	if head.Size != hdr.Size || head.Root != hdr.Root || head.StateHash != hdr.StateHash || applied != hdr.AppliedIndex {
		return fmt.Errorf("%w: holds size %d root %s state %s applied %d; its header says size %d root %s state %s applied %d",
			ErrBadSnapshot, head.Size, head.Root, head.StateHash, applied, hdr.Size, hdr.Root, hdr.StateHash, hdr.AppliedIndex)
	}
	if verify != nil {
		if err := verify(hdr, sl); err != nil {
			return fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
	}
	return nil
}

func writeFileSync(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("ledger: restore: %w", err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("ledger: restore: copy: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("ledger: restore: fsync: %w", err)
	}
	return f.Close()
}

func checkLedgerFile(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		for _, b := range stateBuckets {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("missing bucket %s", b)
			}
		}
		return nil
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// PagesWritten is how many pages this process's commits have written to
// ledger.db since it was opened (bbolt's transaction statistics): what a
// batch costs in I/O, for benchmarks and metrics.
func (l *Ledger) PagesWritten() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.db == nil {
		return 0
	}
	st := l.db.Stats()
	return st.TxStats.GetWrite()
}

// Rebuild sets the ledger file aside as path+suffix (kept for forensics)
// and starts a new one holding only the genesis document, in place: the
// Ledger stays the same value for everything that holds it, and readers
// wait while the file is swapped (then see the new, shorter ledger). The
// caller then feeds it the federation's snapshot and log (consensus), as
// at a first start. It is how a node repairs a ledger found damaged or
// different from the quorum's while it runs.
func (l *Ledger) Rebuild(suffix string, genesis []byte) error {
	l.mu.Lock()
	err := l.rebuildLocked(suffix)
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("ledger: rebuild: %w", err)
	}
	return l.InitGenesis(genesis)
}

func (l *Ledger) rebuildLocked(suffix string) error {
	if l.db != nil {
		if err := l.db.Close(); err != nil {
			return err
		}
		l.db = nil
	}
	if err := MoveAside(l.path, suffix); err != nil {
		return err
	}
	if l.deferred {
		// durably marked before the first unsynced commit, as Open does
		if err := writeMark(l.path, syncMark{BootID: l.boot}); err != nil {
			return err
		}
	}
	return l.openDB()
}
