package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestGuardedTurnsAFaultIntoDamage: reading a memory-mapped file past its
// end (what bbolt does with a truncated file it trusts) raises SIGBUS;
// inside guarded it is a damage error, not the end of the process.
func TestGuardedTurnsAFaultIntoDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const mapBytes = 4 * 4096 // pages past the file's one byte
	m, err := syscall.Mmap(int(f.Fd()), 0, mapBytes, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer syscall.Munmap(m)
	var sink byte
	err = guardFaults(func() error {
		sink = m[2*4096] // past the end of the file
		return nil
	})
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("guarded: %v (read %d), want ErrDamaged", err, sink)
	}
}
