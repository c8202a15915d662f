package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
	bolt "go.etcd.io/bbolt"
)

// TestLedgerRebuiltAfterAnUnsyncedReboot: a node whose ledger.db was
// written without fsync (deferred sync) and whose machine then restarted
// must not trust the file. The test acts out the worst case: the sync
// marker names another boot and the file's pages are garbage. The daemon
// moves the file aside and rebuilds the ledger from the genesis, its Raft
// snapshot and its Raft log, ending at the same head as before.
func TestLedgerRebuiltAfterAnUnsyncedReboot(t *testing.T) {
	dir, nd, cfg := prepareOneNode(t)
	// snapshot and compact the Raft log early, so the rebuild needs the snapshot
	cfg.Raft.SnapshotThreshold, cfg.Raft.TrailingLogs, cfg.Raft.SnapshotInterval = 8, 2, 50*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func() (*node.Daemon, *protocol.Client) {
		t.Helper()
		d, err := node.Start(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if err := devWaitReady(ctx, dir, []*devNode{nd}); err != nil {
			d.Shutdown()
			t.Fatal(err)
		}
		toks, err := devTokens(nd)
		if err != nil {
			t.Fatal(err)
		}
		hc, _ := devHTTPClient(dir)
		return d, protocol.NewClient("https://"+nd.apiAddr, toks[node.RoleMatching], hc)
	}

	d, cl := start()
	for i := range 20 {
		if _, err := cl.Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, fmt.Sprintf("rebuild-%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	snapDir := filepath.Join(cfg.Node.DataDir, "raft", "snapshots")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ents, _ := os.ReadDir(snapDir); len(ents) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no Raft snapshot was taken")
		}
	}
	// one more write after the snapshot: it lives only in the Raft log
	if _, err := cl.Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, "rebuild-last"); err != nil {
		t.Fatal(err)
	}
	before, err := cl.Head(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Shutdown(); err != nil {
		t.Fatal(err)
	}

	// the machine "restarted" with writes the disk never got
	path := filepath.Join(cfg.Node.DataDir, "ledger.db")
	if err := os.WriteFile(path+".sync", []byte(`{"boot_id":"a-boot-before-the-power-cut","clean":false}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(i * 7)
	}
	if _, err := f.WriteAt(junk, 16<<10); err != nil { // past the two meta pages
		t.Fatal(err)
	}
	f.Close()

	d, cl = start()
	defer d.Shutdown()
	var after ledger.Head
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if after, err = cl.Head(ctx, true); err == nil && after.Size == before.Size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the rebuild: head %+v, err %v; want %+v", after, err, before)
		}
	}
	if after.Root != before.Root || after.EntryHash != before.EntryHash {
		t.Fatalf("rebuilt head %+v, want %+v", after, before)
	}
	if moved, _ := filepath.Glob(path + ".unsynced-*"); len(moved) != 2 {
		t.Fatalf("moved aside: %v; want the file and its marker", moved)
	}
}

// TestNodeExitBeforeReadyIsReported: a node process that exits while dev
// up waits for it to be ready (here: a ledger.db of another storage
// format) is reported at once, with the line it logged, not after the
// readiness timeout.
func TestNodeExitBeforeReadyIsReported(t *testing.T) {
	dir, nd, cfg := prepareOneNode(t)
	if err := os.MkdirAll(cfg.Node.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.Node.DataDir, "ledger.db")
	l, err := ledger.Open(path, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := os.ReadFile(cfg.Node.GenesisFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.InitGenesis(genesis); err != nil {
		t.Fatal(err)
	}
	l.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("format"), make([]byte, 8)) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	bin := filepath.Join(t.TempDir(), "raaft")
	if out, err := execGoBuild(bin); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if err := nd.start(bin); err != nil {
		t.Fatal(err)
	}
	defer devStop([]*devNode{nd})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	err = devWaitReady(ctx, dir, []*devNode{nd})
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "stored in another format") {
		t.Fatalf("waiting for a node that cannot open its ledger: %v", err)
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Fatalf("reported after %v", d)
	}
}
