package consensus_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raaft/raaft/consensus"
)

// BenchmarkStoreLogs: the Raft log store's append, fsync on, as a leader
// or follower pays it once per AppendEntries: batches of 1 and 8 entries
// of 1.5 KB (a signed command with its envelope). For scale, "fdatasync"
// times a bare 4 KiB write and fdatasync into an allocated file on the
// same disk: a bbolt commit needs two of those (pages, then meta), which
// is the floor the log store cannot go under.
func BenchmarkStoreLogs(b *testing.B) {
	data := make([]byte, 1536)
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := consensus.OpenBoltStore(filepath.Join(b.TempDir(), "raft.db"), consensus.BoltStoreOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			next := uint64(1)
			var lat []time.Duration
			for b.Loop() {
				logs := make([]*raft.Log, batch)
				for i := range logs {
					logs[i] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data}
					next++
				}
				t0 := time.Now()
				if err := s.StoreLogs(logs); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				// keep the log short, as raft's trailing-log compaction does
				if next > 2048 && next%256 < uint64(batch) {
					if err := s.DeleteRange(1, next-1024); err != nil {
						b.Fatal(err)
					}
				}
			}
			reportLatency(b, lat)
		})
	}
	b.Run("fdatasync", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "sync"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		page := make([]byte, 4096)
		const pages = 1024
		for i := range pages { // allocate the blocks first
			if _, err := f.WriteAt(page, int64(i)*4096); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		var lat []time.Duration
		i := 0
		for b.Loop() {
			t0 := time.Now()
			if _, err := f.WriteAt(page, int64(i%pages)*4096); err != nil {
				b.Fatal(err)
			}
			if err := fdatasync(f); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			i++
		}
		reportLatency(b, lat)
	})
}

// fdatasync flushes f's data as bbolt does on Linux (data, not metadata
// such as mtime).
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
