package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	bolt "go.etcd.io/bbolt"
)

// verifyFixtureCommands is how many commands the fixture ledger holds
// after its genesis: entries 1..verifyFixtureCommands, entry k at Raft
// index k+1 (index 1 is the leader's noop).
const verifyFixtureCommands = 12

// verifyFixtureRotation is the entry at which agency a1 rotates its key;
// a1's later commands are signed with a key the genesis does not hold.
const verifyFixtureRotation = 6

// writeVerifyFixture builds DIR/ledger.db with a genesis and
// verifyFixtureCommands commands, applied through Raft indexes, and
// DIR/raft/raft.db holding those indexes.
func writeVerifyFixture(t *testing.T, dir string) {
	t.Helper()
	fed := ledgertest.NewFederation(2)
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"), ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	logs := []*raft.Log{{Index: 1, Term: 1, Type: raft.LogNoop}}
	var es []ledger.Entry
	for k := 1; k <= verifyFixtureCommands; k++ {
		var jws []byte
		ag := fed.Agencies[k%2]
		switch {
		case k == verifyFixtureRotation:
			ag = fed.Agencies[0]
			next := ledgertest.Key("a1-rotated")
			jws = ag.Sign(ledger.TypeRotateKey, "rotate-0001", ledger.RotateKeyPayload{PublicKey: ledger.EncodePublicKey(next.Public().(ed25519.PublicKey))})
		default:
			jws = ag.Sign(ledger.TypePublish, fmt.Sprintf("verify-pub-%02d", k), ledger.ListingPayload{Token: ledgertest.Token(fmt.Sprint("verify-", k)), Attrs: ledgertest.Attrs()})
		}
		env := ledgertest.Envelope(ledgertest.GenesisTimeMs+int64(k), jws)
		env.Index = uint64(k + 1)
		es = append(es, env)
		logs = append(logs, &raft.Log{Index: env.Index, Term: 1, Type: raft.LogCommand, Data: env.Data})
		if k == verifyFixtureRotation {
			signer, err := ledger.NewSigner(ag.Signer.Agency(), ledgertest.Key("a1-rotated"))
			if err != nil {
				t.Fatal(err)
			}
			ag.Signer = signer
		}
	}
	res, err := l.ApplyBatch(es)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Accepted {
			t.Fatalf("fixture entry %d refused: %v", i+1, r.Rejection)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := consensus.OpenBoltStore(filepath.Join(dir, "raft", "raft.db"), consensus.BoltStoreOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
}

// updateLedger changes the fixture's ledger.db with bbolt, as damage would.
func updateLedger(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "ledger.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// changeEntry changes the stored value of entry seq with fn.
func changeEntry(seq uint64, fn func(v []byte) []byte) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("entries"))
		k := binary.BigEndian.AppendUint64(nil, seq)
		return b.Put(k, fn(bytes.Clone(b.Get(k))))
	}
}

// Offsets in an entry value (ledger/entry.go): version, hash, node count,
// nodes, idempotency key length and bytes, ordinal count and ordinals.
func entryIdemAt(v []byte) int { return 1 + 32 + 32 + 1 + 32*int(v[65]) }

func setApplied(idx uint64) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("local")).Put([]byte("applied_index"), binary.BigEndian.AppendUint64(nil, idx))
	}
}

// changeFile rewrites ledger.db's bytes with fn.
func changeFile(t *testing.T, dir string, fn func(b []byte) []byte) {
	t.Helper()
	path := filepath.Join(dir, "ledger.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rootPage returns the root bucket page of the newest meta page.
func rootPage(b []byte) (page, pageBytes uint64) {
	ne := binary.NativeEndian
	m0, m1 := b[16:], b[4096+16:]
	m := m0
	if ne.Uint64(m1[48:]) > ne.Uint64(m0[48:]) {
		m = m1
	}
	return ne.Uint64(m[16:]), uint64(ne.Uint32(m[8:]))
}

func fileSum(t *testing.T, path string) ([32]byte, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b), st.ModTime().UnixNano()
}

// TestLedgerVerifyNamesDamage damages a real ledger (and its Raft log's
// view of it) one way per case and runs `raaft ledger verify` on it: the
// exit code, the first bad sequence named (the damaged entry, never the
// entry count), the words of the problem, and that verify left the file's
// bytes and modification time as they were.
func TestLedgerVerifyNamesDamage(t *testing.T) {
	const k = 4 // the damaged entry, where a case damages one
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		exit   int
		seq    int // the sequence stderr must name; -1 for none
		want   []string
	}{
		{"clean", func(*testing.T, string) {}, exitOK, -1, nil},
		{"command byte", func(t *testing.T, dir string) {
			updateLedger(t, dir, changeEntry(k, func(v []byte) []byte { v[len(v)-5] ^= 1; return v }))
		}, exitFailure, k, []string{"does not chain"}},
		{"idempotency key", func(t *testing.T, dir string) {
			updateLedger(t, dir, changeEntry(k, func(v []byte) []byte { v[entryIdemAt(v)+2+3] ^= 1; return v }))
		}, exitFailure, k, []string{"idempotency key", "bucket entries"}},
		{"listing ordinals", func(t *testing.T, dir string) {
			updateLedger(t, dir, changeEntry(k, func(v []byte) []byte {
				i := entryIdemAt(v)
				i += 2 + int(binary.BigEndian.Uint16(v[i:])) + 2
				v[i+3] ^= 1
				return v
			}))
		}, exitFailure, k, []string{"listing ordinals"}},
		{"state hash", func(t *testing.T, dir string) {
			updateLedger(t, dir, changeEntry(k, func(v []byte) []byte { v[1+32+9] ^= 1; return v }))
		}, exitFailure, k, []string{"state hash of entry"}},
		{"entry hash", func(t *testing.T, dir string) {
			updateLedger(t, dir, changeEntry(k, func(v []byte) []byte { v[1+7] ^= 1; return v }))
		}, exitFailure, k, []string{"does not chain"}},
		{"tree node", func(t *testing.T, dir string) {
			// entry 7 completes three tree nodes; change its level-1 node
			updateLedger(t, dir, changeEntry(7, func(v []byte) []byte { v[66+32+5] ^= 1; return v }))
		}, exitFailure, 7, []string{"tree node at level 1"}},
		{"listing record", func(t *testing.T, dir string) {
			// the third listing: published by entry 3 (entries 1..5 publish listings 0..4)
			updateLedger(t, dir, func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("listings"))
				key := binary.BigEndian.AppendUint32(nil, 2)
				v := bytes.Clone(b.Get(key))
				v[len(v)-1] ^= 1
				return b.Put(key, v)
			})
		}, exitFailure, 3, []string{"bucket listings", "stored state differs from the replayed state"}},
		{"applied index raised", func(t *testing.T, dir string) {
			updateLedger(t, dir, setApplied(verifyFixtureCommands+50))
		}, exitFailure, -1, []string{"applied index 62 is above the Raft log's last index 13"}},
		{"applied index lowered", func(t *testing.T, dir string) {
			updateLedger(t, dir, setApplied(verifyFixtureCommands-3)) // entry k is at Raft index k+1
		}, exitFailure, verifyFixtureCommands - 3, []string{"applied index 9 is below Raft index 10, which holds entry 9", "lowered"}},
		{"applied index changed", func(t *testing.T, dir string) {
			updateLedger(t, dir, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("local")).Put([]byte("applied_index"), []byte{1, 2, 3})
			})
		}, exitFailure, -1, []string{"bucket local, key applied_index", "the applied index is 3 bytes; an index is 8"}},
		{"truncated to half", func(t *testing.T, dir string) {
			changeFile(t, dir, func(b []byte) []byte { return b[:len(b)/2] })
		}, exitFailure, -1, []string{"ledger.db is damaged: truncated"}},
		{"zero-filled", func(t *testing.T, dir string) {
			changeFile(t, dir, func(b []byte) []byte { return make([]byte, len(b)) })
		}, exitFailure, -1, []string{"ledger.db is damaged", "zero-filled"}},
		{"page header flags", func(t *testing.T, dir string) {
			changeFile(t, dir, func(b []byte) []byte {
				root, ps := rootPage(b)
				b[root*ps+8] ^= 0x40
				return b
			})
		}, exitFailure, -1, []string{"ledger.db is damaged", "not a branch or leaf page"}},
		{"meta page checksum", func(t *testing.T, dir string) {
			changeFile(t, dir, func(b []byte) []byte { b[16+40] ^= 1; return b })
		}, exitFailure, -1, []string{"ledger.db is damaged", "meta page 0: checksum does not match"}},
		{"empty file", func(t *testing.T, dir string) {
			changeFile(t, dir, func([]byte) []byte { return nil })
		}, exitFailure, -1, []string{"ledger.db is damaged: the file is 0 bytes: not a ledger"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeVerifyFixture(t, dir)
			c.damage(t, dir)
			path := filepath.Join(dir, "ledger.db")
			sum, mtime := fileSum(t, path)
			var out, errb bytes.Buffer
			code := run([]string{"ledger", "verify", "--data", dir}, &out, &errb)
			if code != c.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.exit, out.String(), errb.String())
			}
			if sum2, mtime2 := fileSum(t, path); sum2 != sum || mtime2 != mtime {
				t.Fatal("verify changed ledger.db")
			}
			msg := errb.String()
			if c.seq >= 0 && !strings.Contains(msg, fmt.Sprintf("at sequence %d:", c.seq)) && !strings.Contains(msg, fmt.Sprintf("at sequence %d (", c.seq)) {
				t.Fatalf("stderr does not name sequence %d: %s", c.seq, msg)
			}
			if c.seq < 0 && strings.Contains(msg, "at sequence") {
				t.Fatalf("stderr names a sequence where none is meaningful: %s", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("stderr lacks %q: %s", w, msg)
				}
			}
			if c.exit == exitOK && !strings.Contains(out.String(), "ledger verified: OK") {
				t.Fatalf("stdout: %s", out.String())
			}
		})
	}
}

// TestLedgerVerifyJSON: the JSON report carries the counts, the applied
// index checked against the Raft log, and, on damage, where it is.
func TestLedgerVerifyJSON(t *testing.T) {
	dir := t.TempDir()
	writeVerifyFixture(t, dir)
	var out, errb bytes.Buffer
	if code := run([]string{"ledger", "verify", "--data", dir, "--output", "json"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep ledger.VerifyReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	// every command's signature and both founders' genesis signatures, with crypto/ed25519
	if rep.Entries != verifyFixtureCommands+1 || rep.SignaturesStdlib != verifyFixtureCommands+2 || rep.AppliedIndex != verifyFixtureCommands+1 ||
		rep.RaftLastIndex == nil || *rep.RaftLastIndex != verifyFixtureCommands+1 || rep.RaftLog != "checked" || rep.PagesChecked == 0 {
		t.Fatalf("report: %s", out.String())
	}

	updateLedger(t, dir, changeEntry(k4, func(v []byte) []byte { v[entryIdemAt(v)+2+3] ^= 1; return v }))
	out.Reset()
	if code := run([]string{"ledger", "verify", "--data", dir, "--output", "json"}, &out, &errb); code != exitFailure {
		t.Fatalf("exit %d", code)
	}
	rep = ledger.VerifyReport{}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.FirstBadSeq == nil || *rep.FirstBadSeq != k4 || rep.Bucket != "entries" || rep.Key == "" || rep.Expected == rep.Found || rep.Problem == "" {
		t.Fatalf("report: %s", out.String())
	}
}

const k4 = 4

// TestLedgerVerifyWithoutRaftLog: with no raft.db the applied index is
// reported as not checked, and the ledger still verifies.
func TestLedgerVerifyWithoutRaftLog(t *testing.T) {
	dir := t.TempDir()
	writeVerifyFixture(t, dir)
	if err := os.RemoveAll(filepath.Join(dir, "raft")); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"ledger", "verify", "--data", dir}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "not checked: "+filepath.Join(dir, "raft", "raft.db")+" does not exist") {
		t.Fatalf("stdout: %s", out.String())
	}
}

// TestLedgerVerifyUsageAndAbsence: usage errors exit 2 and say which;
// a data directory without ledger.db exits 1.
func TestLedgerVerifyUsageAndAbsence(t *testing.T) {
	cases := []struct {
		args []string
		exit int
		want string
	}{
		{[]string{"ledger", "verify"}, exitUsage, "--data DIR is required"},
		{[]string{"ledger", "verify", "--data", filepath.Join(t.TempDir(), "nowhere")}, exitUsage, "no such file or directory"},
		{[]string{"ledger", "verify", "--data", t.TempDir(), "--output", "yaml"}, exitUsage, "--output"},
		{[]string{"ledger", "verify", "--data", t.TempDir()}, exitFailure, "no ledger to verify"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != c.exit || !strings.Contains(errb.String(), c.want) {
			t.Fatalf("%v: exit %d, want %d; stderr %s", c.args, code, c.exit, errb.String())
		}
	}
}
