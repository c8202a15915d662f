package ledger_test

import (
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// benchLedger opens a ledger with fsync on (NoSync false): commit cost is
// part of what ApplyBatch benchmarks measure.
func benchLedger(b *testing.B, fed *ledgertest.Federation, noSync bool) *ledger.Ledger {
	return benchLedgerWith(b, fed, ledger.Options{NoSync: noSync})
}

// benchLedgerWith opens a ledger with opts and applies fed's genesis.
func benchLedgerWith(b *testing.B, fed *ledgertest.Federation, opts ledger.Options) *ledger.Ledger {
	l, err := ledger.Open(filepath.Join(b.TempDir(), "ledger.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	if err := l.InitGenesis(fed.Genesis); err != nil {
		b.Fatal(err)
	}
	return l
}

// signedPublishes signs n publish commands in parallel (signing is not what is measured).
func signedPublishes(fed *ledgertest.Federation, from, n int, attrs func(i int) ledger.ListingAttrs) [][]byte {
	out := make([][]byte, n)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				ag := fed.Agencies[(from+i)%len(fed.Agencies)]
				out[i] = ag.Sign(ledger.TypePublish, fmt.Sprintf("bench-%09d", from+i), ledger.ListingPayload{Token: ledgertest.Token(fmt.Sprint("b", from+i)), Attrs: attrs(from + i)})
			}
		})
	}
	wg.Wait()
	return out
}

func BenchmarkApplyBatch(b *testing.B) {
	for _, size := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			fed := ledgertest.NewFederation(3)
			l := benchLedger(b, fed, os.Getenv("BENCH_NOSYNC") != "")
			fixed := func(int) ledger.ListingAttrs { return ledgertest.Attrs() }
			next, index := 0, uint64(0)
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				cmds := signedPublishes(fed, next, size, fixed)
				next += size
				es := make([]ledger.Entry, size)
				for i, c := range cmds {
					index++
					es[i] = ledger.Entry{Index: index, Data: ledger.EncodeEnvelope(ledgertest.GenesisTimeMs+int64(index), c)}
				}
				b.StartTimer()
				start := time.Now()
				res, err := l.ApplyBatch(es)
				elapsed += time.Since(start)
				if err != nil || !res[size-1].Accepted {
					b.Fatalf("%v %+v", err, res[size-1])
				}
			}
			b.ReportMetric(float64(next)/elapsed.Seconds(), "entries/s")
		})
	}
}

// BenchmarkVerifySignature measures one core verifying command signatures
// as ApplyBatch's parallel phase does (parse compact JWS, Ed25519 verify).
func BenchmarkVerifySignature(b *testing.B) {
	fed := ledgertest.NewFederation(1)
	cmds := signedPublishes(fed, 0, 256, func(int) ledger.ListingAttrs { return ledgertest.Attrs() })
	pub := fed.Agencies[0].Key.Public().(ed25519.PublicKey)
	i := 0
	for b.Loop() {
		if _, err := ledger.VerifyCompact(cmds[i%len(cmds)], pub); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s/core")
}

// BenchmarkVerifyLedger measures `raaft ledger verify`: chain, Merkle
// root and a full replay (every signature and rule) of a 20,000-entry ledger.
func BenchmarkVerifyLedger(b *testing.B) {
	fed := ledgertest.NewFederation(3)
	l := benchLedger(b, fed, true)
	const n = 20_000
	cmds := signedPublishes(fed, 0, n, func(int) ledger.ListingAttrs { return ledgertest.Attrs() })
	for i := 0; i < n; i += 512 {
		var es []ledger.Entry
		for j := i; j < min(n, i+512); j++ {
			es = append(es, ledger.Entry{Index: uint64(j + 1), Data: ledger.EncodeEnvelope(ledgertest.GenesisTimeMs+int64(j), cmds[j])})
		}
		if _, err := l.ApplyBatch(es); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	for b.Loop() {
		rep, err := l.Verify(dir)
		if err != nil || rep.FirstBadSeq != nil {
			b.Fatal(err, rep.Problem)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkSearch measures search latency over 100,000 listings with
// random multi-attribute queries, reporting p50 and p99.
func BenchmarkSearch(b *testing.B) {
	fed := ledgertest.NewFederation(3)
	l := benchLedger(b, fed, true)
	const n = 100_000
	r := rand.New(rand.NewPCG(3, 4))
	attrs := make([]ledger.ListingAttrs, n)
	for i := range attrs {
		attrs[i] = randomAttrs(r)
	}
	for i := 0; i < n; i += 1000 {
		cmds := signedPublishes(fed, i, 1000, func(j int) ledger.ListingAttrs { return attrs[j] })
		es := make([]ledger.Entry, len(cmds))
		for j, c := range cmds {
			es[j] = ledger.Entry{Index: uint64(i + j + 1), Data: ledger.EncodeEnvelope(ledgertest.GenesisTimeMs, c)}
		}
		if _, err := l.ApplyBatch(es); err != nil {
			b.Fatal(err)
		}
	}
	queries := make([]ledger.SearchQuery, 1000)
	for i := range queries {
		queries[i] = randomQuery(r)
		queries[i].Limit = 50
	}
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		if _, err := l.Search(queries[i%len(queries)]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkApplyHolds measures the cluster benchmark's workload inside the
// ledger alone: 64 listings, each reserved and released in turn by another
// agency, in batches of 32 (about what Raft hands a node's FSM at 64
// clients), with deferred sync as nodes run, on a ledger that already holds
// 20,000 such entries. CPU per entry is what every node pays for every write.
func BenchmarkApplyHolds(b *testing.B) {
	const listings, batch, history = 64, 32, 20_000
	fed := ledgertest.NewFederation(3)
	l := benchLedgerWith(b, fed, ledger.Options{DeferSync: true})
	index, seq := uint64(0), uint64(1)
	apply := func(cmds [][]byte) {
		es := make([]ledger.Entry, len(cmds))
		for i, c := range cmds {
			index++
			es[i] = ledger.Entry{Index: index, Data: ledger.EncodeEnvelope(ledgertest.GenesisTimeMs+int64(index), c)}
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
		seq += uint64(len(cmds))
	}
	apply(signedPublishes(fed, 0, listings, func(int) ledger.ListingAttrs { return ledgertest.Attrs() }))
	tokens := make([]string, listings)
	for i := range tokens {
		tokens[i] = ledgertest.Token(fmt.Sprint("b", i))
	}
	holds := make([]uint64, listings) // reservation id of listing i's hold, 0 if none
	n := 0
	next := func(k int) [][]byte { // the next k commands, signed in parallel
		type job struct {
			ag      *ledgertest.Agency
			typ, id string
			payload any
		}
		jobs := make([]job, k)
		for i := range jobs {
			li := n % listings
			ag := fed.Agencies[(li+1)%len(fed.Agencies)]
			id := fmt.Sprintf("hold-%09d", n)
			if holds[li] == 0 {
				jobs[i] = job{ag, ledger.TypeReserve, id, ledger.ReservePayload{Listing: tokens[li], ChildTokens: []string{ledgertest.Token(fmt.Sprint("child", li))}}}
				holds[li] = seq + uint64(i)
			} else {
				jobs[i] = job{ag, ledger.TypeRelease, id, ledger.ReleasePayload{ReservationID: holds[li]}}
				holds[li] = 0
			}
			n++
		}
		out := make([][]byte, k)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < k; i += 4 {
					out[i] = jobs[i].ag.Sign(jobs[i].typ, jobs[i].id, jobs[i].payload)
				}
			})
		}
		wg.Wait()
		return out
	}
	for done := 0; done < history; done += 512 {
		apply(next(512))
	}
	var elapsed time.Duration
	entries := 0
	pages0 := l.PagesWritten()
	for b.Loop() {
		b.StopTimer()
		cmds := next(batch)
		b.StartTimer()
		start := time.Now()
		apply(cmds)
		elapsed += time.Since(start)
		entries += batch
	}
	b.ReportMetric(float64(entries)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(entries), "µs/entry")
	b.ReportMetric(float64(l.PagesWritten()-pages0)/float64(entries), "pages/entry")
}
