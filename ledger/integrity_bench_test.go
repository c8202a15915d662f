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

// buildLedgerFile writes a ledger of n publishes by one agency to a file
// and closes it. Its signatures are trusted as the node's own
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
	const chunk, batch = 4096, 512
	index := uint64(0)
	for from := 0; from < n; from += chunk {
		k := min(chunk, n-from)
		cmds := make([][]byte, k)
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := w; i < k; i += 2 {
					cmds[i] = ag.Sign(ledger.TypePublish, fmt.Sprintf("int-%09d", from+i), ledger.ListingPayload{Token: ledgertest.Token(fmt.Sprint("i", from+i)), Attrs: ledgertest.Attrs()})
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
			if _, err := l.ApplyBatch(es); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkCheckIntegrity times what a node does with its ledger.db
// before it serves: Open (the read-only pass over every page, then the
// caches) and CheckIntegrity, from entry 0 (no co-signed checkpoint) and
// from a checkpoint 1,000 entries below the head.
func BenchmarkCheckIntegrity(b *testing.B) {
	n := integrityEntries(b)
	start := time.Now()
	path := buildLedgerFile(b, n)
	st, _ := os.Stat(path)
	b.Logf("built a ledger of %d entries (%d MB) in %s", n+1, st.Size()>>20, time.Since(start).Round(time.Second))
	var open, full, tail time.Duration
	for b.Loop() {
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
	b.ReportMetric(per(open), "open-ms")
	b.ReportMetric(per(full), "check-all-ms")
	b.ReportMetric(per(tail), "check-tail-ms")
	b.ReportMetric(float64(n+1), "entries")
}
