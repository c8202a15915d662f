package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// BenchmarkCluster: three `raaft node run` processes on 127.0.0.1 (fsync
// on), N concurrent clients each reserving and releasing its own listing
// through the API of one of the nodes: one client at the leader, one at a
// follower, and 16 and 64 spread over all three (so two thirds of their
// writes are forwarded to the leader). Reports committed writes/s, latency
// percentiles, and the CPU and UDP datagrams a write costs. Every write is
// signed by the node and verified by every node. The nodes inherit the
// environment, so RAAFT_RAFT_NO_SYNC=true measures the same path with no
// fsync at all: the floor a faster disk or log could reach.
func BenchmarkCluster(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "raaft")
	if out, err := execGoBuild(bin); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	dir := b.TempDir()
	off := freePortOffset(b, 3)
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
	leader, followers := clusterRoles(b, nodes, hc)
	// one client at the leader and one at a follower (its writes are
	// forwarded); then 16 and 64 spread over all three nodes
	b.Run("clients=1/at=leader", func(b *testing.B) { runClusterLoad(b, []*devNode{leader}, hc, 1); raftTimings(b, nodes, hc) })
	b.Run("clients=1/at=follower", func(b *testing.B) { runClusterLoad(b, followers[:1], hc, 1); raftTimings(b, nodes, hc) })
	for _, clients := range []int{16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { runClusterLoad(b, nodes, hc, clients); raftTimings(b, nodes, hc) })
	}
}

// raftTimings logs, with RAAFT_BENCH_RAFT_TIMINGS set, the medians of
// raft's timings on every node's /metrics (since the nodes started): where
// a write's time goes, for docs/BENCHMARKS.md.
func raftTimings(b *testing.B, nodes []*devNode, hc *http.Client) {
	if os.Getenv("RAAFT_BENCH_RAFT_TIMINGS") == "" {
		return
	}
	for _, nd := range nodes {
		toks, err := devTokens(nd)
		if err != nil {
			b.Fatal(err)
		}
		m, err := protocol.NewClient("https://"+nd.apiAddr, toks[node.RoleOperator], hc).Metrics(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		for _, ln := range strings.Split(string(m), "\n") {
			if strings.HasPrefix(ln, "raaft_raft_") && strings.Contains(ln, `quantile="0.5"`) && !strings.Contains(ln, "_node1{") {
				b.Logf("%s %s", nd.ag.id, ln)
			}
		}
	}
}

// clusterRoles returns the node that leads now and the others.
func clusterRoles(b *testing.B, nodes []*devNode, hc *http.Client) (*devNode, []*devNode) {
	toks, err := devTokens(nodes[0])
	if err != nil {
		b.Fatal(err)
	}
	st, err := protocol.NewClient("https://"+nodes[0].apiAddr, toks[node.RoleOperator], hc).Cluster(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var leader *devNode
	var followers []*devNode
	for _, nd := range nodes {
		if st.LeaderID == nd.ag.id+"-node1" {
			leader = nd
		} else {
			followers = append(followers, nd)
		}
	}
	if leader == nil {
		b.Fatalf("leader %q is none of the nodes", st.LeaderID)
	}
	return leader, followers
}

// runClusterLoad runs clients workers, worker i writing through nodes[i mod len(nodes)].
func runClusterLoad(b *testing.B, nodes []*devNode, hc *http.Client, clients int) {
	ctx := context.Background()
	ws, err := holdWorkers(ctx, nodes, hc, clients)
	if err != nil {
		b.Fatal(err)
	}
	// each op is one write: reserve, then release, alternately
	perWorker := max(b.N/clients, 2) &^ 1
	b.ResetTimer()
	nodeCPU0, clientCPU0, udp0 := nodesCPU(b, nodes), processCPU(), udpDatagramsSent()
	start := time.Now()
	lat, err := holdLoad(ctx, ws, perWorker)
	elapsed := time.Since(start)
	nodeCPU, clientCPU, udp := nodesCPU(b, nodes)-nodeCPU0, processCPU()-clientCPU0, udpDatagramsSent()-udp0
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p int) float64 { return float64(all[len(all)*p/100].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "writes/s")
	b.ReportMetric(pct(50), "p50-ms")
	b.ReportMetric(pct(90), "p90-ms")
	b.ReportMetric(pct(99), "p99-ms")
	b.ReportMetric(float64(nodeCPU.Microseconds())/float64(len(all)), "node-cpu-µs/write")
	b.ReportMetric(float64(clientCPU.Microseconds())/float64(len(all)), "client-cpu-µs/write")
	b.ReportMetric(float64(udp)/float64(len(all)), "udp-datagrams/write")
	b.ReportMetric(0, "ns/op")
}

// holdWorker is one client of the load: its node and its own listing.
type holdWorker struct {
	c       *protocol.Client
	listing string
}

// holdWorkers makes clients workers spread over nodes, each with a
// listing of its own, published.
func holdWorkers(ctx context.Context, nodes []*devNode, hc *http.Client, clients int) ([]holdWorker, error) {
	ws := make([]holdWorker, clients)
	for i := range ws {
		nd := nodes[i%len(nodes)]
		toks, err := devTokens(nd)
		if err != nil {
			return nil, err
		}
		ws[i] = holdWorker{c: protocol.NewClient("https://"+nd.apiAddr, toks[node.RoleMatching], hc), listing: protocol.NewToken()}
		if _, err := ws[i].c.Publish(ctx, protocol.ListingRequest{Token: ws[i].listing, Attrs: ledgertest.Attrs()}, ""); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

// holdLoad has every worker reserve and release its listing in turn,
// perWorker writes each (even), and returns each write's latency.
func holdLoad(ctx context.Context, ws []holdWorker, perWorker int) ([][]time.Duration, error) {
	lat := make([][]time.Duration, len(ws))
	var wg sync.WaitGroup
	var errs sync.Map
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
	var err error
	errs.Range(func(k, v any) bool { err = fmt.Errorf("worker %v: %v", k, v); return false })
	return lat, err
}

// nodesCPU is the CPU time (user and system) the node processes have used
// so far, from /proc/PID/stat.
func nodesCPU(b *testing.B, nodes []*devNode) time.Duration {
	var sum time.Duration
	for _, nd := range nodes {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", nd.cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		// fields after the command name in parentheses; utime and stime are the 14th and 15th
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		sum += time.Duration(ut+st) * time.Second / clockTicksPerSecond
	}
	return sum
}

// udpDatagramsSent is the machine's count of UDP datagrams sent
// (OutDatagrams in /proc/net/snmp): on this machine during the benchmark,
// the QUIC packets the nodes exchange. 0 where it cannot be read.
func udpDatagramsSent() int64 {
	raw, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, ln := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(ln, "Udp: ") {
			continue
		}
		f := strings.Fields(ln)[1:]
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "OutDatagrams" && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}

// clockTicksPerSecond is Linux's USER_HZ, the unit of /proc/PID/stat times.
const clockTicksPerSecond = 100

// processCPU is the CPU time this process (the clients) has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func execGoBuild(out string) ([]byte, error) {
	cmd := execCommand("go", "build", "-o", out, ".")
	cmd.Env = os.Environ()
	return cmd.CombinedOutput()
}
