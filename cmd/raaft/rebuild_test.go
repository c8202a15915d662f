package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
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
