package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// BenchmarkCluster: three `raaft node run` processes on 127.0.0.1 (fsync
// on), N concurrent clients each reserving and releasing its own listing
// through the API of one of the nodes (spread over all three, so two
// thirds of writes are forwarded to the leader). Reports committed writes/s
// and latency percentiles. Every write is signed by the node and verified
// by every node.
func BenchmarkCluster(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "raaft")
	if out, err := execGoBuild(bin); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	dir := b.TempDir()
	off := freePortOffset(&testing.T{}, 3)
	if _, err := devPrepare(dir, 3, off); err != nil {
		b.Fatal(err)
	}
	var nodes []*devNode
	for i := range 3 {
		nd := &devNode{ag: devAgencies[i], dir: filepath.Join(dir, devAgencies[i].id), apiAddr: devAddr(devAPIPortBase, off, i)}
		if err := nd.start(bin); err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, nd)
	}
	defer devStop(nodes)
	ctx := context.Background()
	if err := devWaitReady(ctx, dir, nodes); err != nil {
		b.Fatal(err)
	}
	hc, _ := devHTTPClient(dir)
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 128
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			runClusterLoad(b, nodes, hc, clients)
		})
	}
}

func runClusterLoad(b *testing.B, nodes []*devNode, hc *http.Client, clients int) {
	ctx := context.Background()
	type worker struct {
		c       *protocol.Client
		listing string
	}
	ws := make([]worker, clients)
	for i := range ws {
		nd := nodes[i%len(nodes)]
		toks, err := devTokens(nd)
		if err != nil {
			b.Fatal(err)
		}
		ws[i] = worker{c: protocol.NewClient("https://"+nd.apiAddr, toks[node.RoleMatching], hc), listing: protocol.NewToken()}
		if _, err := ws[i].c.Publish(ctx, protocol.ListingRequest{Token: ws[i].listing, Attrs: ledgertest.Attrs()}, ""); err != nil {
			b.Fatal(err)
		}
	}
	// each op is one write: reserve, then release, alternately
	perWorker := max(b.N/clients, 2) &^ 1
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	var errs sync.Map
	b.ResetTimer()
	start := time.Now()
	for i := range ws {
		wg.Go(func() {
			w := ws[i]
			child := protocol.NewToken()
			for j := 0; j < perWorker; j += 2 {
				t0 := time.Now()
				r, err := w.c.Reserve(ctx, protocol.ReserveRequest{Listing: w.listing, ChildTokens: []string{child}}, "")
				t1 := time.Now()
				if err == nil {
					_, err = w.c.Release(ctx, r.ID, "", "")
				}
				t2 := time.Now()
				if err != nil {
					errs.Store(i, err)
					return
				}
				lat[i] = append(lat[i], t1.Sub(t0), t2.Sub(t1))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	errs.Range(func(k, v any) bool { b.Fatalf("worker %v: %v", k, v); return false })
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p int) float64 { return float64(all[len(all)*p/100].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "writes/s")
	b.ReportMetric(pct(50), "p50-ms")
	b.ReportMetric(pct(90), "p90-ms")
	b.ReportMetric(pct(99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

func execGoBuild(out string) ([]byte, error) {
	cmd := execCommand("go", "build", "-o", out, ".")
	cmd.Env = os.Environ()
	return cmd.CombinedOutput()
}
