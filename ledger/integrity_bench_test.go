package ledger_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// integrityEntries is the ledger size BenchmarkCheckIntegrity builds:
// RAAFT_BENCH_INTEGRITY_ENTRIES, default 1,000,000 (the size the check at
// open is budgeted for).
func integrityEntries(b *testing.B) int {
	n := 1_000_000
	if s := os.Getenv("RAAFT_BENCH_INTEGRITY_ENTRIES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("RAAFT_BENCH_INTEGRITY_ENTRIES=%q: want an integer of at least 1000", s)
		}
		n = v
	}
	return n
}

// integrityListings is how many adopters the benchmark ledger lists: a
// few years of England's approvals; every other entry reserves or
// releases one of them, as matching does.
const integrityListings = 10_000

// buildLedgerFile writes a ledger of n entries by one agency to a file
// and closes it: integrityListings publishes, then holds placed and
// released in turn. Its signatures are trusted as the node's own
// (TrustOwnSignatures), so building costs signing and applying, not
// verifying; chunks stay within the window of remembered own signatures.
func buildLedgerFile(b *testing.B, n int) string {
	fed := ledgertest.NewFederation(1)
	path := filepath.Join(b.TempDir(), "ledger.db")
	l, err := ledger.Open(path, ledger.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := l.InitGenesis(fed.Genesis); err != nil {
		b.Fatal(err)
	}
	ag := fed.Agencies[0]
	l.TrustOwnSignatures(ag.Signer)
	holds := make([]uint64, integrityListings)
	seq := uint64(1)
	job := func(i int) (typ string, payload any) {
		if i < integrityListings {
			return ledger.TypePublish, ledger.ListingPayload{Token: ledgertest.Token(fmt.Sprint("i", i)), Attrs: ledgertest.Attrs()}
		}
		li := i % integrityListings
		if holds[li] == 0 {
			holds[li] = seq + uint64(i) // the reserve's sequence: every entry is accepted
			return ledger.TypeReserve, ledger.ReservePayload{Listing: ledgertest.Token(fmt.Sprint("i", li)), ChildTokens: []string{ledgertest.Token(fmt.Sprint("child", li))}}
		}
		id := holds[li]
		holds[li] = 0
		return ledger.TypeRelease, ledger.ReleasePayload{ReservationID: id}
	}
	const chunk, batch = 4096, 512
	index := uint64(0)
	for from := 0; from < n; from += chunk {
		k := min(chunk, n-from)
		typs, payloads := make([]string, k), make([]any, k)
		for i := range k {
			typs[i], payloads[i] = job(from + i)
		}
		cmds := make([][]byte, k)
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := w; i < k; i += 2 {
					cmds[i] = ag.Sign(typs[i], fmt.Sprintf("int-%09d", from+i), payloads[i])
				}
			})
		}
		wg.Wait()
		for i := 0; i < k; i += batch {
			var es []ledger.Entry
			for _, c := range cmds[i:min(k, i+batch)] {
				index++
				es = append(es, ledger.Entry{Index: index, Data: ledger.EncodeEnvelope(ledgertest.GenesisTimeMs+int64(index), c)})
			}
			res, err := l.ApplyBatch(es)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range res {
				if !r.Accepted {
					b.Fatalf("rejected: %+v", r.Rejection)
				}
			}
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkCheckIntegrity times what a node does with its ledger.db
// before it serves: Open (the read-only pass over every page, reported
// alone as preflight-ms and again inside open-ms, then bbolt's own open
// and the state caches) and CheckIntegrity, from entry 0 (no co-signed checkpoint) and
// from a checkpoint 1,000 entries below the head.
func BenchmarkCheckIntegrity(b *testing.B) {
	n := integrityEntries(b)
	start := time.Now()
	path := buildLedgerFile(b, n)
	st, _ := os.Stat(path)
	b.Logf("built a ledger of %d entries (%d MB) in %s", n+1, st.Size()>>20, time.Since(start).Round(time.Second))
	var pre, open, full, tail time.Duration
	for b.Loop() {
		tp := time.Now()
		if err := ledger.Preflight(path); err != nil {
			b.Fatal(err)
		}
		pre += time.Since(tp)
		t0 := time.Now()
		l, err := ledger.Open(path, ledger.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := l.CheckIntegrity(0); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := l.CheckIntegrity(uint64(n + 1 - 1000)); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		l.Close()
		open, full, tail = open+t1.Sub(t0), full+t2.Sub(t1), tail+t3.Sub(t2)
	}
	per := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N) }
	b.ReportMetric(per(pre), "preflight-ms")
	b.ReportMetric(per(open), "open-ms")
	b.ReportMetric(per(full), "check-all-ms")
	b.ReportMetric(per(tail), "check-tail-ms")
	b.ReportMetric(float64(n+1), "entries")
}

// BenchmarkRestoreVerified times installing a snapshot of a 100,000-entry
// ledger the way a rebuilding node does (ledger.Restore: write the file,
// open it, CheckIntegrity from entry 0, compare its head with the
// header, swap files): the bulk of the time from a node finding its
// ledger damaged or diverged to its serving again, before the Raft log
// after the snapshot is replayed.
func BenchmarkRestoreVerified(b *testing.B) {
	const n = 100_000
	src, err := ledger.Open(buildLedgerFile(b, n), ledger.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	snap := filepath.Join(b.TempDir(), "snap")
	f, err := os.Create(snap)
	if err != nil {
		b.Fatal(err)
	}
	if err := src.Snapshot(f); err != nil {
		b.Fatal(err)
	}
	f.Close()
	dst, err := ledger.Open(filepath.Join(b.TempDir(), "ledger.db"), ledger.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	want, _ := src.Head()
	for b.Loop() {
		r, err := os.Open(snap)
		if err != nil {
			b.Fatal(err)
		}
		err = dst.Restore(r, nil)
		r.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	if got, _ := dst.Head(); got != want {
		b.Fatalf("restored head %+v, want %+v", got, want)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/restore")
}
