package consensus_test

import (
	"fmt"
	"slices"
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
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
