package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Deferred sync
//
// With Options.DeferSync the ledger commits its apply transactions without
// fsync, as etcd's backend does: the Raft log (fsynced on a majority before
// anything is applied) is the durable record, and the ledger stores the last
// Raft index it applied in the same transaction as the state, so whatever
// a crash takes away is replayed from the log.
//
// What that risks is the order in which pages reach the disk. bbolt writes
// a transaction's pages and then its meta page; only an fsync between the
// two makes the meta page land after the pages it points to. Without it:
//
//   - a process crash (panic, SIGKILL, OOM kill) loses nothing: every
//     write(2) is in the kernel's page cache, which the next process reads;
//   - an OS crash or power loss can leave a meta page on disk whose pages
//     are not, a file bbolt would open without complaint.
//
// The sync marker tells the two apart. Before the first unsynced commit
// the ledger writes, with fsync, <ledger.db>.sync holding the id of the
// running OS boot (/proc/sys/kernel/random/boot_id) and clean=false; Close
// fsyncs the database and rewrites the marker with clean=true. Open refuses,
// with ErrUnsynced, a file whose marker is not clean and names another boot:
// the machine went down with writes the disk may not hold. The node then
// moves the file aside (MoveAside) and rebuilds the ledger from the genesis,
// the newest Raft snapshot and the Raft log, as it would a lost file. Where
// the boot id cannot be read, DeferSync is ignored and every commit is
// fsynced.

// ErrUnsynced means ledger.db was written without fsync and the machine
// has restarted since, so pages the OS had not yet written may be missing.
// The file cannot be trusted: move it aside and rebuild the ledger from the
// federation (the Raft snapshot and log).
var ErrUnsynced = errors.New("ledger: written without fsync before the machine restarted; it must be rebuilt from the Raft snapshot and log")

// bootIDPath is where Linux names the running boot.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// syncMark is the content of the marker file.
type syncMark struct {
	BootID string `json:"boot_id"`
	Clean  bool   `json:"clean"`
}

func markPath(dbPath string) string { return dbPath + ".sync" }

// readBootID reads the running boot's id.
func readBootID() (string, error) {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", fmt.Errorf("%s is empty", bootIDPath)
	}
	return id, nil
}

// readMark returns the marker beside dbPath; ok is false if there is none.
func readMark(dbPath string) (m syncMark, ok bool, err error) {
	b, err := os.ReadFile(markPath(dbPath))
	if errors.Is(err, os.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("ledger: sync marker: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil || m.BootID == "" {
		// A marker is written whole (rename), so a bad one was not ours to
		// trust: treat the file as unsynced rather than guess.
		return syncMark{}, true, nil
	}
	return m, true, nil
}

// writeMark replaces the marker durably: temporary file, fsync, rename,
// fsync of the directory.
func writeMark(dbPath string, m syncMark) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := markPath(dbPath) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("ledger: sync marker: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("ledger: sync marker: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("ledger: sync marker: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ledger: sync marker: %w", err)
	}
	if err := os.Rename(tmp, markPath(dbPath)); err != nil {
		return fmt.Errorf("ledger: sync marker: %w", err)
	}
	return syncDir(filepath.Dir(dbPath))
}

// checkMark refuses a file left unsynced by another boot. boot is the
// running boot's id, "" if unknown (then any unclean marker is refused:
// nothing shows the page cache survived).
func checkMark(dbPath, boot string) error {
	m, ok, err := readMark(dbPath)
	if err != nil || !ok || m.Clean {
		return err
	}
	if boot == "" || m.BootID != boot {
		return fmt.Errorf("%w (%s: boot %q, clean=false; this boot %q)", ErrUnsynced, markPath(dbPath), m.BootID, boot)
	}
	return nil
}

// MoveAside renames an untrusted ledger file and its sync marker to
// dbPath+suffix (and +suffix+".sync"), keeping them for inspection, so a
// fresh ledger can be built at dbPath.
func MoveAside(dbPath, suffix string) error {
	if err := os.Rename(dbPath, dbPath+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ledger: move aside: %w", err)
	}
	if err := os.Rename(markPath(dbPath), dbPath+suffix+".sync"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ledger: move aside: %w", err)
	}
	return syncDir(filepath.Dir(dbPath))
}
