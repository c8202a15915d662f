package ledger_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// bootIs returns a BootID that names boot.
func bootIs(boot string) func() (string, error) {
	return func() (string, error) { return boot, nil }
}

// deferredLedger opens a ledger with deferred sync in dir at boot, applies
// the genesis and one listing, and returns it with its state hash.
func deferredLedger(t *testing.T, dir, boot string) (*ledger.Ledger, ledger.Hash) {
	t.Helper()
	fed := ledgertest.NewFederation(2)
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"), ledger.Options{DeferSync: true, BootID: bootIs(boot)})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Deferred() {
		t.Fatal("DeferSync with a boot id: commits still fsynced")
	}
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	e := ledgertest.Envelope(ledgertest.GenesisTimeMs+1000, fed.Agencies[0].Sign(ledger.TypePublish, "cmd-000001",
		ledger.ListingPayload{Token: ledgertest.Token("sync"), Attrs: ledgertest.Attrs()}))
	e.Index = 1
	res, err := l.ApplyBatch([]ledger.Entry{e})
	if err != nil || !res[0].Accepted {
		t.Fatalf("apply: %v %+v", err, res)
	}
	h, err := l.StateHash()
	if err != nil {
		t.Fatal(err)
	}
	return l, h
}

// crashCopy copies ledger.db and its marker from src to dst while the
// ledger is open: what the next process finds after a crash in the same
// boot (the page cache holds every write).
func crashCopy(t *testing.T, src, dst string) {
	t.Helper()
	for _, name := range []string{"ledger.db", "ledger.db.sync"} {
		in, err := os.Open(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
}

// TestDeferredSyncSurvivesAProcessCrash: a crash in the same boot loses
// nothing; the same file after a reboot is refused with ErrUnsynced.
func TestDeferredSyncSurvivesAProcessCrash(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	l, want := deferredLedger(t, src, "boot-1")
	defer l.Close()
	crashCopy(t, src, dst)
	path := filepath.Join(dst, "ledger.db")

	_, err := ledger.Open(path, ledger.Options{DeferSync: true, BootID: bootIs("boot-2")})
	if !errors.Is(err, ledger.ErrUnsynced) {
		t.Fatalf("unsynced file after a reboot: %v, want ErrUnsynced", err)
	}
	// not only the deferring node: `raaft ledger verify` opens it with defaults
	_, err = ledger.Open(path, ledger.Options{BootID: bootIs("boot-2")})
	if !errors.Is(err, ledger.ErrUnsynced) {
		t.Fatalf("unsynced file opened without DeferSync after a reboot: %v, want ErrUnsynced", err)
	}
	_, err = ledger.Open(path, ledger.Options{BootID: func() (string, error) { return "", errors.New("no /proc") }})
	if !errors.Is(err, ledger.ErrUnsynced) {
		t.Fatalf("unsynced file with the boot unknown: %v, want ErrUnsynced", err)
	}

	same, err := ledger.Open(path, ledger.Options{DeferSync: true, BootID: bootIs("boot-1")})
	if err != nil {
		t.Fatalf("same boot after a crash: %v", err)
	}
	defer same.Close()
	if got, _ := same.StateHash(); got != want {
		t.Fatalf("state after a crash in the same boot %s, want %s", got, want)
	}
	if idx, _ := same.LastApplied(); idx != 1 {
		t.Fatalf("last applied %d after the crash, want 1", idx)
	}
}

// TestDeferredSyncCleanClose: Close fsyncs and marks the file clean, so a
// later boot opens it; MoveAside clears the way for a rebuild.
func TestDeferredSyncCleanClose(t *testing.T) {
	dir := t.TempDir()
	l, want := deferredLedger(t, dir, "boot-1")
	path := filepath.Join(dir, "ledger.db")
	mark, err := os.ReadFile(path + ".sync")
	if err != nil || !strings.Contains(string(mark), `"boot_id":"boot-1","clean":false`) {
		t.Fatalf("marker while open: %q %v", mark, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if mark, _ = os.ReadFile(path + ".sync"); !strings.Contains(string(mark), `"clean":true`) {
		t.Fatalf("marker after Close: %q", mark)
	}
	again, err := ledger.Open(path, ledger.Options{DeferSync: true, BootID: bootIs("boot-2")})
	if err != nil {
		t.Fatalf("cleanly closed file after a reboot: %v", err)
	}
	if got, _ := again.StateHash(); got != want {
		t.Fatalf("state %s, want %s", got, want)
	}
	again.Close()

	// a marker that is not ours to read is not trusted
	if err := os.WriteFile(path+".sync", []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Open(path, ledger.Options{BootID: bootIs("boot-2")}); !errors.Is(err, ledger.ErrUnsynced) {
		t.Fatalf("unreadable marker: %v, want ErrUnsynced", err)
	}
	if err := ledger.MoveAside(path, ".unsynced-1"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ledger.db.unsynced-1", "ledger.db.unsynced-1.sync"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("moved aside: %v", err)
		}
	}
	fresh, err := ledger.Open(path, ledger.Options{BootID: bootIs("boot-2")})
	if err != nil {
		t.Fatalf("fresh ledger after MoveAside: %v", err)
	}
	if idx, _ := fresh.LastApplied(); idx != 0 {
		t.Fatalf("fresh ledger has applied %d", idx)
	}
	fresh.Close()
}

// TestDeferSyncNeedsABootID: without a boot id nothing can tell a process
// crash from a power loss, so every commit is fsynced and no marker written.
func TestDeferSyncNeedsABootID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(path, ledger.Options{DeferSync: true, BootID: func() (string, error) { return "", errors.New("not Linux") }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Deferred() {
		t.Fatal("deferred without a boot id")
	}
	if _, err := os.Stat(path + ".sync"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker written without a boot id: %v", err)
	}
}
