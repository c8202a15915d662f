package consensus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// openTestStore opens a NoSync store in a fresh directory and closes it at
// the end of the test.
func openTestStore(t *testing.T) (*BoltStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raft.db")
	s, err := OpenBoltStore(path, BoltStoreOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// testLogs makes entries lo..hi with recognisable contents.
func testLogs(lo, hi uint64) []*raft.Log {
	var out []*raft.Log
	for i := lo; i <= hi; i++ {
		out = append(out, &raft.Log{
			Index: i, Term: i/10 + 1, Type: raft.LogCommand,
			Data:       []byte(fmt.Sprintf("data-%d", i)),
			Extensions: []byte(fmt.Sprintf("ext-%d", i)),
			AppendedAt: time.Unix(1_700_000_000+int64(i), int64(i)).UTC(),
		})
	}
	return out
}

func mustStore(t *testing.T, s *BoltStore, logs []*raft.Log) {
	t.Helper()
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
}

// logsEqual compares two entries field by field (time by instant).
func logsEqual(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt)
}

func checkIndexes(t *testing.T, s *BoltStore, first, last uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil || f != first {
		t.Errorf("FirstIndex = %d, %v; want %d", f, err, first)
	}
	l, err := s.LastIndex()
	if err != nil || l != last {
		t.Errorf("LastIndex = %d, %v; want %d", l, err, last)
	}
}

func TestBoltStoreEmpty(t *testing.T) {
	s, _ := openTestStore(t)
	checkIndexes(t, s, 0, 0)
	var l raft.Log
	if err := s.GetLog(1, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Errorf("GetLog on empty store: %v, want raft.ErrLogNotFound", err)
	}
	if ci, err := s.GetCommitIndex(); ci != 0 || err != nil {
		t.Errorf("GetCommitIndex = %d, %v; want 0, nil", ci, err)
	}
	if err := s.DeleteRange(1, 10); err != nil {
		t.Errorf("DeleteRange on empty store: %v", err)
	}
	// raft tells "fresh node" from "broken store" by this exact text.
	_, err := s.Get([]byte("CurrentTerm"))
	if !errors.Is(err, ErrKeyNotFound) || err.Error() != "not found" {
		t.Errorf("Get missing = %v, want ErrKeyNotFound with text \"not found\"", err)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); v != 0 || err != nil {
		t.Errorf("GetUint64 missing = %d, %v; want 0, nil as raft.InmemStore", v, err)
	}
	if !s.IsMonotonic() {
		t.Error("IsMonotonic = false")
	}
}

func TestBoltStoreLogRoundTrip(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	cases := []struct {
		name string
		log  raft.Log
	}{
		{"all fields", raft.Log{Index: 1, Term: 7, Type: raft.LogCommand, Data: []byte("cmd"),
			Extensions: []byte{0, 1, 2}, AppendedAt: time.Date(2026, 3, 1, 12, 0, 0, 123456789, ist)}},
		{"zero time and empty slices", raft.Log{Index: 2, Term: 1, Type: raft.LogNoop}},
		{"configuration entry", raft.Log{Index: 3, Term: 1, Type: raft.LogConfiguration, Data: []byte{0xff}}},
		{"unknown type kept", raft.Log{Index: 4, Term: 1, Type: raft.LogType(200), Extensions: []byte("x")}},
		{"before 1970", raft.Log{Index: 5, Term: 1, AppendedAt: time.Date(1901, 1, 1, 0, 0, 0, 1, time.UTC)}},
		{"large data", raft.Log{Index: 6, Term: ^uint64(0), Data: bytes.Repeat([]byte("z"), 1<<20)}},
	}
	s, _ := openTestStore(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.log
			if err := s.StoreLog(&in); err != nil {
				t.Fatal(err)
			}
			var out raft.Log
			if err := s.GetLog(in.Index, &out); err != nil {
				t.Fatal(err)
			}
			if !logsEqual(&in, &out) {
				t.Errorf("round trip changed the log:\n in  %+v\n out %+v", in, out)
			}
			if in.AppendedAt.IsZero() != out.AppendedAt.IsZero() {
				t.Errorf("zero time not kept: %v", out.AppendedAt)
			}
		})
	}
}

func TestBoltStoreStoreLogs(t *testing.T) {
	cases := []struct {
		name        string
		before      []*raft.Log
		batch       []*raft.Log
		wantErr     error
		first, last uint64
	}{
		{"batch into empty store", nil, testLogs(1, 100), nil, 1, 100},
		{"empty store may start anywhere", nil, testLogs(500, 510), nil, 500, 510},
		{"append after last", testLogs(1, 10), testLogs(11, 20), nil, 1, 20},
		{"empty batch", testLogs(1, 3), nil, nil, 1, 3},
		{"gap after last", testLogs(1, 10), testLogs(12, 13), ErrLogGap, 1, 10},
		{"overwrite", testLogs(1, 10), testLogs(5, 6), ErrLogGap, 1, 10},
		{"hole inside batch", nil, append(testLogs(1, 2), testLogs(4, 4)...), ErrLogGap, 0, 0},
		{"index zero", nil, []*raft.Log{{Index: 0}}, ErrLogGap, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTestStore(t)
			mustStore(t, s, tc.before)
			err := s.StoreLogs(tc.batch)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("StoreLogs = %v, want %v", err, tc.wantErr)
			}
			checkIndexes(t, s, tc.first, tc.last)
			for _, want := range append(tc.before, tc.batch...) {
				if tc.wantErr != nil && !containsLog(tc.before, want) {
					continue
				}
				var got raft.Log
				if err := s.GetLog(want.Index, &got); err != nil || !logsEqual(want, &got) {
					t.Errorf("GetLog(%d) = %+v, %v; want %+v", want.Index, got, err, want)
				}
			}
		})
	}
}

func containsLog(logs []*raft.Log, l *raft.Log) bool {
	for _, x := range logs {
		if x == l {
			return true
		}
	}
	return false
}

func TestBoltStoreDeleteRange(t *testing.T) {
	const n = 3000 // enough entries to span many bbolt pages
	cases := []struct {
		name        string
		lo, hi      uint64
		first, last uint64 // 0, 0: empty
	}{
		{"prefix (compaction)", 1, 1000, 1001, n},
		{"suffix (conflict)", 2001, n, 1, 2000},
		{"everything", 1, n, 0, 0},
		{"beyond both ends", 0, n + 50, 0, 0},
		{"one entry at the start", 1, 1, 2, n},
		{"reversed range is a no-op", 10, 5, 1, n},
		{"range past the end", n + 1, n + 100, 1, n},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTestStore(t)
			mustStore(t, s, testLogs(1, n))
			if err := s.DeleteRange(tc.lo, tc.hi); err != nil {
				t.Fatal(err)
			}
			checkIndexes(t, s, tc.first, tc.last)
			for i := uint64(1); i <= n; i++ {
				var l raft.Log
				err := s.GetLog(i, &l)
				deleted := i >= tc.lo && i <= tc.hi
				if deleted != errors.Is(err, raft.ErrLogNotFound) || (!deleted && err != nil) {
					t.Fatalf("after DeleteRange(%d, %d): GetLog(%d) = %v", tc.lo, tc.hi, i, err)
				}
			}
			// The log continues after a deletion of its tail or all of it.
			next := tc.last + 1
			if tc.last == 0 {
				next = n + 1
			}
			mustStore(t, s, testLogs(next, next+1))
		})
	}
}

func TestBoltStoreStable(t *testing.T) {
	s, _ := openTestStore(t)
	cases := []struct {
		name string
		op   func() error
	}{
		{"set and get", func() error {
			if err := s.Set([]byte("k"), []byte("v1")); err != nil {
				return err
			}
			return expectGet(s, "k", "v1")
		}},
		{"overwrite", func() error {
			if err := s.Set([]byte("k"), []byte("v2")); err != nil {
				return err
			}
			return expectGet(s, "k", "v2")
		}},
		{"empty value is present", func() error {
			if err := s.Set([]byte("empty"), nil); err != nil {
				return err
			}
			return expectGet(s, "empty", "")
		}},
		{"uint64", func() error {
			if err := s.SetUint64([]byte("CurrentTerm"), 42); err != nil {
				return err
			}
			if v, err := s.GetUint64([]byte("CurrentTerm")); v != 42 || err != nil {
				return fmt.Errorf("GetUint64 = %d, %v", v, err)
			}
			return nil
		}},
		{"uint64 max", func() error {
			if err := s.SetUint64([]byte("max"), ^uint64(0)); err != nil {
				return err
			}
			if v, err := s.GetUint64([]byte("max")); v != ^uint64(0) || err != nil {
				return fmt.Errorf("GetUint64 = %d, %v", v, err)
			}
			return nil
		}},
		{"uint64 of a non-uint64 value", func() error {
			if _, err := s.GetUint64([]byte("k")); !errors.Is(err, ErrCorruptLog) {
				return fmt.Errorf("GetUint64 of 2-byte value: %v, want ErrCorruptLog", err)
			}
			return nil
		}},
		{"empty key refused", func() error {
			if err := s.Set(nil, []byte("v")); err == nil {
				return errors.New("Set with empty key succeeded")
			}
			return nil
		}},
		{"returned value is a copy", func() error {
			v, err := s.Get([]byte("k"))
			if err != nil {
				return err
			}
			v[0] = 'X'
			return expectGet(s, "k", "v2")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func expectGet(s *BoltStore, key, want string) error {
	got, err := s.Get([]byte(key))
	if err != nil || string(got) != want || got == nil {
		return fmt.Errorf("Get(%q) = %q (nil %v), %v; want %q", key, got, got == nil, err, want)
	}
	return nil
}

func TestBoltStoreCommitIndex(t *testing.T) {
	s, path := openTestStore(t)
	steps := []struct {
		name  string
		do    func() error
		wantC uint64
	}{
		{"staged alone is not persisted", func() error { return s.StageCommitIndex(3) }, 0},
		{"persisted with the next StoreLogs", func() error { return s.StoreLogs(testLogs(1, 10)) }, 3},
		{"restaged", func() error { return s.StageCommitIndex(9) }, 3},
		{"persisted again", func() error { return s.StoreLogs(testLogs(11, 12)) }, 9},
		{"capped at last index", func() error {
			if err := s.StageCommitIndex(50); err != nil {
				return err
			}
			return s.StoreLogs(testLogs(13, 13))
		}, 13},
		{"capped after suffix deletion", func() error { return s.DeleteRange(8, 13) }, 7},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got, err := s.GetCommitIndex(); got != st.wantC || err != nil {
			t.Fatalf("%s: GetCommitIndex = %d, %v; want %d", st.name, got, err, st.wantC)
		}
	}
	mustStore(t, s, testLogs(8, 20))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenBoltStore(path, BoltStoreOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	// 50 was the last staged value written; it now fits under LastIndex 20.
	if got, err := s2.GetCommitIndex(); got != 20 || err != nil {
		t.Errorf("after reopen GetCommitIndex = %d, %v; want 20", got, err)
	}
}

func TestBoltStoreReopen(t *testing.T) {
	s, path := openTestStore(t)
	logs := testLogs(1, 250)
	mustStore(t, s, logs)
	if err := s.SetUint64([]byte("CurrentTerm"), 9); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("node-b")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(1, 50); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenBoltStore(path, BoltStoreOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	checkIndexes(t, s2, 51, 250)
	for _, want := range logs[50:] {
		var got raft.Log
		if err := s2.GetLog(want.Index, &got); err != nil || !logsEqual(want, &got) {
			t.Fatalf("GetLog(%d) = %+v, %v", want.Index, got, err)
		}
	}
	if v, err := s2.GetUint64([]byte("CurrentTerm")); v != 9 || err != nil {
		t.Errorf("CurrentTerm = %d, %v", v, err)
	}
	if err := expectGet(s2, "LastVoteCand", "node-b"); err != nil {
		t.Error(err)
	}
}

func TestBoltStoreOpenErrors(t *testing.T) {
	s, path := openTestStore(t)
	start := time.Now()
	if _, err := OpenBoltStore(path, BoltStoreOptions{Timeout: 50 * time.Millisecond}); !errors.Is(err, bolterrors.ErrTimeout) {
		t.Errorf("second open of a locked file: %v, want bbolt errors.ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("locked open took %v", d)
	}
	if _, err := OpenBoltStore(filepath.Join(t.TempDir(), "x.db"), BoltStoreOptions{Timeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A file of an unknown format version is refused, not misread.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFormat, uint64Bytes(2)) })
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	if _, err := OpenBoltStore(path, BoltStoreOptions{}); !errors.Is(err, ErrCorruptLog) {
		t.Errorf("open of format 2: %v, want ErrCorruptLog", err)
	}
}

func TestBoltStoreCorruptValue(t *testing.T) {
	s, _ := openTestStore(t)
	mustStore(t, s, testLogs(1, 2))
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLogs)
		if err := b.Put(uint64Bytes(1), []byte{logEncodingV1, 0}); err != nil {
			return err
		}
		return b.Put(uint64Bytes(2), encodeLog(&raft.Log{Index: 7}))
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []uint64{1, 2} {
		var l raft.Log
		if err := s.GetLog(idx, &l); !errors.Is(err, ErrCorruptLog) {
			t.Errorf("GetLog(%d) of a damaged value: %v, want ErrCorruptLog", idx, err)
		}
	}
}

func TestBoltStoreStats(t *testing.T) {
	s, _ := openTestStore(t)
	mustStore(t, s, testLogs(1, 2000))
	if err := s.DeleteRange(1, 1500); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.SizeBytes <= 0 || st.PageSizeBytes <= 0 {
		t.Errorf("Stats = %+v, want a positive size and page size", st)
	}
	if st.FreePages+st.PendingPages == 0 {
		t.Errorf("Stats = %+v, want free pages after deleting most of the log", st)
	}
}

func FuzzDecodeLog(f *testing.F) {
	for _, l := range testLogs(1, 3) {
		f.Add(encodeLog(l))
	}
	f.Add(encodeLog(&raft.Log{}))
	f.Add([]byte{})
	f.Add([]byte{logEncodingV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l raft.Log
		if err := decodeLog(b, &l); err != nil {
			if !errors.Is(err, ErrCorruptLog) {
				t.Fatalf("decode error %v is not ErrCorruptLog", err)
			}
			return
		}
		// One encoding per log: what decodes re-encodes to the same bytes.
		if again := encodeLog(&l); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, again)
		}
	})
}

// --- a real raft node on BoltStore ---

// countingFSM records the data of every command entry it applies. Its
// snapshot is the JSON list of those entries.
type countingFSM struct {
	mu      sync.Mutex
	entries []string
}

func (f *countingFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l.Type == raft.LogCommand {
		f.entries = append(f.entries, string(l.Data))
	}
	return len(f.entries)
}

func (f *countingFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(f.entries)
	return fsmSnapshot(b), err
}

func (f *countingFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var entries []string
	if err := json.NewDecoder(rc).Decode(&entries); err != nil {
		return err
	}
	f.mu.Lock()
	f.entries = entries
	f.mu.Unlock()
	return nil
}

func (f *countingFSM) snapshot() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.entries...)
}

type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}

// testLogWriter sends log lines to t.Log until the test ends, then drops
// them: raft's and quic's goroutines may log while they wind down.
type testLogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func newTestLogWriter(t testing.TB) *testLogWriter {
	w := &testLogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// testRaftConfig is raft's default with test timings and a quiet logger.
func testRaftConfig(t testing.TB, id string, timeout time.Duration) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(id)
	c.HeartbeatTimeout = timeout
	c.ElectionTimeout = timeout
	c.LeaderLeaseTimeout = min(100*time.Millisecond, timeout)
	c.CommitTimeout = 5 * time.Millisecond
	c.Logger = hclog.New(&hclog.LoggerOptions{Name: id, Level: hclog.Warn, Output: newTestLogWriter(t)})
	return c
}

// waitFor polls cond every 10ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// raftShutdownTimeout bounds Raft.Shutdown in tests, so that a deadlock in
// raft fails the test instead of hanging it.
const raftShutdownTimeout = 10 * time.Second

// shutdownRaft shuts r down, failing the test if it takes longer than
// raftShutdownTimeout (the stuck goroutines are then reported by goleak).
func shutdownRaft(t testing.TB, r *raft.Raft, name string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.Shutdown().Error() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s shutdown: %v", name, err)
		}
	case <-time.After(raftShutdownTimeout):
		t.Errorf("%s: raft shutdown still blocked after %v", name, raftShutdownTimeout)
	}
}

func TestBoltStoreRaftRestart(t *testing.T) {
	const commands = 200
	dir := t.TempDir()
	path := filepath.Join(dir, "raft.db")
	start := func(fsm raft.FSM, timeout time.Duration) (*raft.Raft, *BoltStore) {
		t.Helper()
		store, err := OpenBoltStore(path, BoltStoreOptions{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		snaps, err := raft.NewFileSnapshotStore(dir, 1, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		_, trans := raft.NewInmemTransport("n1")
		conf := testRaftConfig(t, "n1", timeout)
		conf.RestoreCommittedLogs = true
		r, err := raft.NewRaft(conf, fsm, store, store, snaps, trans)
		if err != nil {
			t.Fatal(err)
		}
		return r, store
	}

	fsm1 := &countingFSM{}
	r, store := start(fsm1, 100*time.Millisecond)
	err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: "n1"}}}).Error()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "leadership", func() bool { return r.State() == raft.Leader })
	for i := range commands {
		if err := r.Apply([]byte(fmt.Sprintf("cmd-%d", i)), 5*time.Second).Error(); err != nil {
			t.Fatal(err)
		}
	}
	// The barrier's StoreLogs persists a commit index covering every command.
	if err := r.Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	term, last := r.CurrentTerm(), r.LastIndex()
	shutdownRaft(t, r, "first run")
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart with a 10s election timeout: the node stays a follower for the
	// whole check, so whatever the FSM sees came from RestoreCommittedLogs.
	fsm2 := &countingFSM{}
	r2, store2 := start(fsm2, 10*time.Second)
	defer func() {
		shutdownRaft(t, r2, "restart")
		_ = store2.Close()
	}()
	waitFor(t, 5*time.Second, "replay of committed logs", func() bool { return len(fsm2.snapshot()) == commands })
	if st := r2.State(); st != raft.Follower {
		t.Fatalf("state %v: replay must not need an election", st)
	}
	got := fsm2.snapshot()
	for i, e := range got {
		if e != fmt.Sprintf("cmd-%d", i) {
			t.Fatalf("replayed entry %d = %q", i, e)
		}
	}
	if r2.CurrentTerm() != term || r2.LastIndex() != last {
		t.Errorf("after restart term %d, last index %d; want %d, %d", r2.CurrentTerm(), r2.LastIndex(), term, last)
	}
	if ci, err := store2.GetCommitIndex(); err != nil || ci < uint64(commands) {
		t.Errorf("persisted commit index %d, %v; want at least %d", ci, err, commands)
	}
}
