package consensus_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// BenchmarkProposeLatency: one client writing sequentially through the
// leader and through a follower of an in-process 3-node cluster (real QUIC
// on loopback). Set RAAFT_TEST_FSYNC=1 to include fsync (as production does).
func BenchmarkProposeLatency(b *testing.B) {
	c := newCluster(b, 3, 0, consensus.FastTimings())
	ld := c.leader()
	f := c.followers()[0]
	for _, nd := range []*tnode{ld, f} {
		name := "follower"
		if nd == ld {
			name = "leader"
		}
		b.Run(name, func(b *testing.B) {
			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				s := nd.ag.Sign(ledger.TypePublish, fmt.Sprintf("lat-%s-%07d", nd.id, i), ledger.ListingPayload{Token: ledgertest.Token(fmt.Sprint(nd.id, i, b.N)), Attrs: ledgertest.Attrs()})
				t0 := time.Now()
				if _, err := c.propose(nd, s); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			reportLatency(b, lat)
		})
	}
}

// reportLatency reports the p50 and p99 of lat in milliseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkProposeConcurrent: 1, 16 and 64 clients writing at once, spread
// over the three nodes of an in-process cluster: Raft and the ledger
// without the HTTP API (compare BenchmarkCluster in cmd/raaft). Set
// RAAFT_TEST_FSYNC=1 to include fsync.
func BenchmarkProposeConcurrent(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			c := newCluster(b, 3, 0, consensus.FastTimings())
			nodes := append([]*tnode{c.leader()}, c.followers()...)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			t0 := time.Now()
			for w := range clients {
				wg.Go(func() {
					nd := nodes[w%len(nodes)]
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						s := nd.ag.Sign(ledger.TypePublish, fmt.Sprintf("con-%s-%07d", nd.id, i), ledger.ListingPayload{Token: ledgertest.Token(fmt.Sprint("con", nd.id, i)), Attrs: ledgertest.Attrs()})
						if _, err := c.propose(nd, s); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "writes/s")
		})
	}
}
