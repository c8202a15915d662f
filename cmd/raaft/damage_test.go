package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/protocol"
	bolt "go.etcd.io/bbolt"
)

// editBolt changes a stopped node's ledger.db with bbolt, as an operator's
// edit or a restore of the wrong file would.
func editBolt(t *testing.T, path, bucket string, fn func(b *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket([]byte(bucket))) }); err != nil {
		t.Fatal(err)
	}
}

// editFile changes a stopped node's ledger.db byte by byte, as disk rot would.
func editFile(t *testing.T, path string, fn func(b []byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedLedgerNeverServed runs three `raaft node run` processes and,
// one kind of damage at a time, stops a node, damages its ledger.db and
// starts it again. The node must find the damage before its API listens
// (so it never reports ready with it, and never serves the damaged value),
// keep the damaged file aside, rebuild the ledger from its Raft log, and
// end with the same size, root, entry hash and state hash as the others.
func TestDamagedLedgerNeverServed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Raft snapshots every few entries, so rebuilds restore one
	fed := startFederation(t, ctx, func(nd *devNode) {
		editConfig(t, nd, "  voters_max: 3", "  voters_max: 3\n  snapshot_threshold: 4\n  snapshot_interval: 100ms")
	})
	bin, dir, nodes, clients := fed.bin, fed.dir, fed.nodes, fed.clients
	listing := protocol.NewToken()
	if _, err := clients[0].Publish(ctx, protocol.ListingRequest{Token: listing, Attrs: ledgertest.Attrs()}, ""); err != nil {
		t.Fatal(err)
	}
	writes := 0
	write := func(i int) {
		t.Helper()
		writes++
		if _, err := clients[i].Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, fmt.Sprintf("dmg-%04d", writes)); err != nil {
			t.Fatal(err)
		}
	}
	for range 6 {
		write(1)
	}

	ledgerPath := func(i int) string { return filepath.Join(nodes[i].dir, "data", "ledger.db") }
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"a byte of a stored command", func(t *testing.T, path string) {
			editBolt(t, path, "entries", func(b *bolt.Bucket) error {
				v := bytes.Clone(b.Get(binary.BigEndian.AppendUint64(nil, 1)))
				v[len(v)-10] ^= 1
				return b.Put(binary.BigEndian.AppendUint64(nil, 1), v)
			})
		}},
		{"a listing's record", func(t *testing.T, path string) {
			editBolt(t, path, "listings", func(b *bolt.Bucket) error {
				k, v := b.Cursor().First()
				v = bytes.Clone(v)
				v[len(v)-1] ^= 1
				return b.Put(bytes.Clone(k), v)
			})
		}},
		{"the applied index raised", func(t *testing.T, path string) {
			editBolt(t, path, "local", func(b *bolt.Bucket) error {
				v := binary.BigEndian.Uint64(b.Get([]byte("applied_index")))
				return b.Put([]byte("applied_index"), binary.BigEndian.AppendUint64(nil, v+5))
			})
		}},
		{"the applied index lowered", func(t *testing.T, path string) {
			editBolt(t, path, "local", func(b *bolt.Bucket) error {
				v := binary.BigEndian.Uint64(b.Get([]byte("applied_index")))
				return b.Put([]byte("applied_index"), binary.BigEndian.AppendUint64(nil, v-3))
			})
		}},
		{"truncated to half of its pages in use", func(t *testing.T, path string) {
			editFile(t, path, func(b []byte) []byte { return b[:pagesInUse(b)/2] })
		}},
		{"zero-filled", func(t *testing.T, path string) {
			editFile(t, path, func(b []byte) []byte { return make([]byte, len(b)) })
		}},
		{"the ledger and its newest snapshot, which a damaged node could have made", func(t *testing.T, path string) {
			snaps := filepath.Join(filepath.Dir(path), "raft", "snapshots")
			ids, _ := os.ReadDir(snaps)
			if len(ids) < 2 {
				t.Fatalf("%d Raft snapshots; the case needs two", len(ids))
			}
			// raft's own CRC is made to match: only raaft's checks can refuse it
			damageSnapshot(t, filepath.Join(snaps, ids[len(ids)-1].Name()), []byte(listing))
			editFile(t, path, func(b []byte) []byte { return b[:len(b)/2] })
		}},
		{"a flipped byte in a page header", func(t *testing.T, path string) {
			editFile(t, path, func(b []byte) []byte {
				for p := 4; p*4096 < len(b); p++ { // every page past the meta and freelist pages
					b[p*4096+8] ^= 0x40 // the page's flags
				}
				return b
			})
		}},
	}
	for ci, c := range cases {
		i := ci % 3
		t.Run(c.name, func(t *testing.T) {
			before, err := clients[(i+1)%3].Head(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			devStop(nodes[i : i+1])
			c.damage(t, ledgerPath(i))
			os.Truncate(filepath.Join(nodes[i].dir, "node.log"), 0)
			if err := nodes[i].start(bin); err != nil {
				t.Fatal(err)
			}
			// the federation goes on while the node rebuilds
			write((i + 1) % 3)
			if err := devWaitReady(ctx, dir, nodes[i:i+1]); err != nil {
				t.Fatal(err)
			}
			if h := fed.sameHeads(t, ctx, before.Size+1); h.StateHash == (ledger.Hash{}) {
				t.Fatal("no state hash in the head")
			}
			li, err := clients[i].Listing(ctx, listing, false)
			if err != nil || li.Status != ledger.StatusAvailable {
				t.Fatalf("the listing on the repaired node: %+v, %v", li, err)
			}
			logb, _ := os.ReadFile(filepath.Join(nodes[i].dir, "node.log"))
			if c.name == "the applied index lowered" {
				// entries applied again are recognised by their idempotency ids
				return
			}
			if !strings.Contains(string(logb), "damaged") {
				t.Fatalf("the node did not report damage; its log:\n%s", tail(logb, 2000))
			}
			if aside, _ := filepath.Glob(ledgerPath(i) + ".damaged-*"); len(aside) == 0 {
				t.Fatal("the damaged file was not kept aside")
			}
			if strings.Contains(c.name, "snapshot") {
				if refused, _ := os.ReadDir(filepath.Join(nodes[i].dir, "data", "raft", "snapshots-refused")); len(refused) != 1 || !strings.Contains(string(logb), "snapshot refused") {
					t.Fatalf("the damaged snapshot was not refused and set aside (%d set aside); log:\n%s", len(refused), tail(logb, 3000))
				}
			}
		})
	}
}

// pagesInUse is how many bytes of a bbolt file its newest meta page says
// are in use (its high-water mark times the page size): a file can be
// longer, grown ahead of need, and cutting only that tail damages nothing.
func pagesInUse(b []byte) int {
	meta := func(off int) (txid, hwm uint64, pageSize int) {
		m := b[off+16:] // after the page header: magic, version, page size, flags, root, freelist, pgid, txid
		return binary.LittleEndian.Uint64(m[48:]), binary.LittleEndian.Uint64(m[40:]), int(binary.LittleEndian.Uint32(m[8:]))
	}
	tx0, hwm0, ps := meta(0)
	tx1, hwm1, _ := meta(ps)
	if tx1 > tx0 {
		hwm0 = hwm1
	}
	return int(hwm0) * ps
}

// editConfig replaces the first old in a node's node.yaml with new.
func editConfig(t *testing.T, nd *devNode, old, new string) {
	t.Helper()
	path := filepath.Join(nd.dir, "node.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// damageSnapshot changes the first byte of every copy of needle in a Raft
// snapshot's state.bin and writes raft's CRC-64 of the result into its
// meta.json: a snapshot raft itself accepts, as one made by a node whose
// ledger was damaged would be.
func damageSnapshot(t *testing.T, snapDir string, needle []byte) {
	t.Helper()
	state := filepath.Join(snapDir, "state.bin")
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for off := 0; ; {
		i := bytes.Index(b[off:], needle)
		if i < 0 {
			break
		}
		b[off+i] ^= 0x01
		n++
		off += i + len(needle)
	}
	if n == 0 {
		t.Fatal("the snapshot does not hold the listing")
	}
	if err := os.WriteFile(state, b, 0o600); err != nil {
		t.Fatal(err)
	}
	metaPath := filepath.Join(snapDir, "meta.json")
	raw, err := os.ReadFile(metaPath)
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	h.Write(b)
	meta["CRC"] = h.Sum(nil)
	raw, _ = json.Marshal(meta)
	if err := os.WriteFile(metaPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// flipInFile changes the first byte of every copy of needle in a file
// that a running node has open, as disk rot under a running process
// would (bbolt reads the file through a shared mapping, so the node sees
// the change). It returns how many copies it changed.
func flipInFile(t testing.TB, path string, needle []byte) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for off := 0; ; {
		i := bytes.Index(b[off:], needle)
		if i < 0 {
			break
		}
		if _, err := f.WriteAt([]byte{b[off+i] ^ 0x01}, int64(off+i)); err != nil {
			t.Fatal(err)
		}
		n++
		off += i + len(needle)
	}
	return n
}

// waitLog waits until a node's log holds want.
func waitLog(t testing.TB, ctx context.Context, nd *devNode, want string) {
	t.Helper()
	for {
		b, _ := os.ReadFile(filepath.Join(nd.dir, "node.log"))
		if strings.Contains(string(b), want) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never logged %q; log:\n%s", nd.ag.id, want, tail(b, 3000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestLedgerRebuiltInPlace runs three `raaft node run` processes and
// damages a running node's ledger.db twice. First the leader's, where
// only the checkpoint exchange can see it: a listing's stored record
// changes under it, so the next write to that listing leaves its state
// hash different from the other two nodes'. The two others' signed heads
// make a quorum against it: it must say it diverged, hand leadership
// over, set the file aside, rebuild its ledger in place (no restart) and
// end with the others' head. Then a follower's, found by the periodic
// integrity check (housekeeping.integrity_interval 1s): the same repair.
func TestLedgerRebuiltInPlace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	setIntegrity := func(nd *devNode, interval string) {
		path := filepath.Join(nd.dir, "node.yaml")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if i := strings.Index(s, "  integrity_interval:"); i >= 0 {
			s = s[:i]
		}
		s = strings.Replace(s, "checkpoint_interval: 2s", "checkpoint_interval: 300ms", 1)
		if err := os.WriteFile(path, []byte(strings.TrimRight(s, "\n")+"\n  integrity_interval: "+interval+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fed := startFederation(t, ctx, func(nd *devNode) { setIntegrity(nd, "24h") })
	bin, dir, nodes, clients := fed.bin, fed.dir, fed.nodes, fed.clients
	tokens := []string{protocol.NewToken(), protocol.NewToken()}
	for i, tok := range tokens {
		if _, err := clients[0].Publish(ctx, protocol.ListingRequest{Token: tok, Attrs: ledgertest.Attrs()}, fmt.Sprintf("inplace-%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	before := fed.sameHeads(t, ctx, 3)
	ld := fed.leader(t, ctx)
	other := (ld + 1) % 3

	t.Run("a diverged leader", func(t *testing.T) {
		path := filepath.Join(nodes[ld].dir, "data", "ledger.db")
		if n := flipInFile(t, path, []byte(tokens[0])); n == 0 {
			t.Fatal("the listing's record is not in the file")
		}
		// the write that makes the leader's state hash differ
		if _, err := clients[other].Reserve(ctx, protocol.ReserveRequest{Listing: tokens[0], ChildTokens: []string{protocol.NewToken()}}, "inplace-reserve"); err != nil {
			t.Fatal(err)
		}
		waitLog(t, ctx, nodes[ld], "DIVERGED")
		waitLog(t, ctx, nodes[ld], "handing leadership over")
		waitLog(t, ctx, nodes[ld], "ledger rebuilt in place")
		if aside, _ := filepath.Glob(path + ".diverged-*"); len(aside) == 0 {
			t.Fatal("the diverged file was not kept aside")
		}
		if err := devWaitReady(ctx, dir, nodes[ld:ld+1]); err != nil {
			t.Fatal(err)
		}
		h := fed.sameHeads(t, ctx, before.Size+1)
		li, err := clients[ld].Listing(ctx, tokens[0], false)
		if err != nil || li.Status != ledger.StatusReserved {
			t.Fatalf("the reserved listing on the rebuilt node: %+v, %v (head %+v)", li, err, h)
		}
		if _, err := os.Stat(path + ".repair"); !os.IsNotExist(err) {
			t.Fatalf("the repair marker is still there after the rebuild: %v", err)
		}
	})

	t.Run("damage found by the periodic check", func(t *testing.T) {
		f := (ld + 2) % 3
		devStop(nodes[f : f+1])
		setIntegrity(nodes[f], "1s")
		if err := nodes[f].start(bin); err != nil {
			t.Fatal(err)
		}
		if err := devWaitReady(ctx, dir, nodes[f:f+1]); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(nodes[f].dir, "data", "ledger.db")
		if n := flipInFile(t, path, []byte(tokens[1])); n == 0 {
			t.Fatal("the listing's record is not in the file")
		}
		waitLog(t, ctx, nodes[f], "the periodic integrity check found ledger.db damaged")
		waitLog(t, ctx, nodes[f], "ledger rebuilt in place")
		if aside, _ := filepath.Glob(path + ".damaged-*"); len(aside) == 0 {
			t.Fatal("the damaged file was not kept aside")
		}
		if _, err := clients[f].Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, "inplace-after"); err != nil {
			t.Fatal(err)
		}
		fed.sameHeads(t, ctx, before.Size+2)
		m, err := clients[f].Metrics(ctx)
		if err != nil || !strings.Contains(string(m), `raaft_ledger_rebuilds_total{reason="damaged",result="ok"} 1`) {
			t.Fatalf("metrics after the rebuild (%v):\n%s", err, m)
		}
	})
}

// TestDamagedSnapshotFromLeaderRefused: a follower that lags behind the
// compacted Raft log must install the leader's snapshot. The leader's
// snapshots are damaged on disk (with raft's CRC made to match, as a
// damaged node would write them): the follower refuses each, its ledger
// stays as it was, and the other two go on with the same heads. Once the
// leader writes a new snapshot from its own, healthy ledger, the follower
// installs it and all three agree.
func TestDamagedSnapshotFromLeaderRefused(t *testing.T) {
	ctx := processTest(t, 3*time.Minute)
	fed := startFederation(t, ctx, compactingSnapshots(t))
	bin, nodes, clients := fed.bin, fed.nodes, fed.clients
	ld := fed.leader(t, ctx)
	f, g := (ld+1)%3, (ld+2)%3
	writes := 0
	write := func(i, n int) {
		t.Helper()
		for range n {
			writes++
			if _, err := clients[i].Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, fmt.Sprintf("snapref-%04d", writes)); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(g, 4)
	devStop(nodes[f : f+1])
	lagging, _ := clients[ld].Head(ctx, true)
	// the leader snapshots and compacts its log past the follower
	snaps := filepath.Join(nodes[ld].dir, "data", "raft", "snapshots")
	writeUntilSnapshots(t, ctx, clients[g], snaps, "snapref-compact", 21)
	time.Sleep(300 * time.Millisecond) // no snapshot is being written: nothing was since
	ids, _ := os.ReadDir(snaps)
	for _, id := range ids {
		damageSnapshot(t, filepath.Join(snaps, id.Name()), []byte("north-raa"))
	}
	if err := nodes[f].start(bin); err != nil {
		t.Fatal(err)
	}
	waitLog(t, ctx, nodes[f], "restore refused")
	// the follower kept its ledger (at most an entry that was in flight
	// when it stopped comes from its own log); the other two go on and agree
	if h, err := clients[f].Head(ctx, false); err != nil || h.Size > lagging.Size+1 {
		t.Fatalf("the follower's head after refusing: %+v (%v); it lagged at %d", h, err, lagging.Size)
	}
	write(g, 2)
	lh, _ := clients[ld].Head(ctx, true)
	gh, _ := clients[g].Head(ctx, true)
	if lh != gh {
		t.Fatalf("the quorum disagrees: %+v and %+v", lh, gh)
	}
	// a snapshot the leader makes from its healthy ledger is installed
	write(g, 8)
	fed.sameHeads(t, ctx, lh.Size+8)
}

// TestLedgerRebuiltFromPeerSnapshot: a follower whose ledger.db and every
// Raft snapshot are damaged, and whose Raft log was compacted past what a
// rebuilt ledger holds, has nothing local to rebuild from. It must fetch a
// snapshot from a peer, check it like its own, and serve again with the
// others' head; its own snapshots are set aside.
func TestLedgerRebuiltFromPeerSnapshot(t *testing.T) {
	ctx := processTest(t, 3*time.Minute)
	fed := startFederation(t, ctx, compactingSnapshots(t))
	bin, nodes, clients := fed.bin, fed.nodes, fed.clients
	ld := fed.leader(t, ctx)
	f, g := (ld+1)%3, (ld+2)%3
	listing := protocol.NewToken()
	if _, err := clients[g].Publish(ctx, protocol.ListingRequest{Token: listing, Attrs: ledgertest.Attrs()}, ""); err != nil {
		t.Fatal(err)
	}
	// the follower holds two snapshots, both after the listing, and has
	// compacted its log
	snaps := filepath.Join(nodes[f].dir, "data", "raft", "snapshots")
	writeUntilSnapshots(t, ctx, clients[g], snaps, "peersnap", 13)
	before := fed.sameHeads(t, ctx, 0)
	devStop(nodes[f : f+1])
	ids, _ := os.ReadDir(snaps)
	for _, id := range ids {
		damageSnapshot(t, filepath.Join(snaps, id.Name()), []byte(listing))
	}
	editFile(t, filepath.Join(nodes[f].dir, "data", "ledger.db"), func(b []byte) []byte { return b[:len(b)/2] })
	os.Truncate(filepath.Join(nodes[f].dir, "node.log"), 0)
	// and the peers hold no snapshot that reaches where the node's log
	// starts (as in a quiet federation, where the threshold brings none):
	// they must take one for it
	for _, i := range []int{ld, g} {
		ids, _ := os.ReadDir(filepath.Join(nodes[i].dir, "data", "raft", "snapshots"))
		for _, id := range ids {
			os.RemoveAll(filepath.Join(nodes[i].dir, "data", "raft", "snapshots", id.Name()))
		}
	}
	if err := nodes[f].start(bin); err != nil {
		t.Fatal(err)
	}
	if err := devWaitReady(ctx, fed.dir, nodes[f:f+1]); err != nil {
		t.Fatal(err)
	}
	logb, _ := os.ReadFile(filepath.Join(nodes[f].dir, "node.log"))
	for _, want := range []string{"asking the peers for a snapshot", "ledger rebuilt from a peer's snapshot"} {
		if !strings.Contains(string(logb), want) {
			t.Fatalf("the node's log has no %q:\n%s", want, tail(logb, 3000))
		}
	}
	lb, _ := os.ReadFile(filepath.Join(nodes[ld].dir, "node.log"))
	gb, _ := os.ReadFile(filepath.Join(nodes[g].dir, "node.log"))
	if !strings.Contains(string(lb)+string(gb), "snapshot taken for a peer") {
		t.Fatal("no peer took a snapshot for the rebuilding node")
	}
	if refused, _ := os.ReadDir(filepath.Join(nodes[f].dir, "data", "raft", "snapshots-refused")); len(refused) != 2 {
		t.Fatalf("%d of the node's 2 damaged snapshots were set aside", len(refused))
	}
	if _, err := clients[g].Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, "peersnap-after"); err != nil {
		t.Fatal(err)
	}
	fed.sameHeads(t, ctx, before.Size+1)
	if li, err := clients[f].Listing(ctx, listing, false); err != nil || li.Status != ledger.StatusAvailable {
		t.Fatalf("the listing on the rebuilt node: %+v, %v", li, err)
	}
	for _, nd := range nodes {
		onlyOwnerCanRead(t, filepath.Join(nd.dir, "data"))
	}
}

// onlyOwnerCanRead fails if any file or directory under dir (a node's
// data: ledger, Raft log, snapshots, checkpoints) is open to its group or
// to others.
func onlyOwnerCanRead(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v: open to others", path, info.Mode().Perm())
		}
		n++
		return nil
	})
	if err != nil || n < 5 {
		t.Fatalf("walked %d files under %s: %v", n, dir, err)
	}
}

// TestSnapshotByAge: with raft.snapshot_max_age 1s and the default
// threshold of 8,192 entries, a handful of writes still leave a snapshot
// on every node within seconds, so a backup copied from the newest
// snapshot is never older than the setting.
func TestSnapshotByAge(t *testing.T) {
	ctx := processTest(t, 2*time.Minute)
	fed := startFederation(t, ctx, func(nd *devNode) {
		editConfig(t, nd, "  voters_max: 3", "  voters_max: 3\n  snapshot_max_age: 1s")
	})
	for i := range 3 {
		if _, err := fed.clients[0].Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, fmt.Sprintf("age-%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range fed.nodes {
		snaps := filepath.Join(nd.dir, "data", "raft", "snapshots")
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if ids, _ := os.ReadDir(snaps); len(ids) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s took no snapshot in 15 s with snapshot_max_age 1s", nd.ag.id)
			}
		}
	}
	waitLog(t, ctx, fed.nodes[0], "snapshot taken by age")
}
