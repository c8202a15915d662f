package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// federation is three `raaft node run` processes of a development
// federation on 127.0.0.1, for whole-binary tests and benchmarks.
type federation struct {
	bin, dir string
	nodes    []*devNode
	hc       *http.Client
	clients  []*protocol.Client // a matching officer at each node
}

// startFederation builds raaft, prepares three agencies, lets edit change
// each node before it starts (its node.yaml, say), starts them and waits
// until they are ready. The processes are stopped when the test ends,
// and their logs shown if it failed.
func startFederation(tb testing.TB, ctx context.Context, edit func(nd *devNode)) *federation {
	tb.Helper()
	f := &federation{bin: filepath.Join(tb.TempDir(), "raaft"), dir: tb.TempDir()}
	if out, err := exec.Command("go", "build", "-o", f.bin, ".").CombinedOutput(); err != nil {
		tb.Fatalf("build: %v\n%s", err, out)
	}
	off := freePortOffset(tb, 3)
	if _, err := devPrepare(f.dir, 3, off); err != nil {
		tb.Fatal(err)
	}
	f.nodes = make([]*devNode, 3)
	for i := range f.nodes {
		f.nodes[i] = &devNode{ag: devAgencies[i], dir: filepath.Join(f.dir, devAgencies[i].id), apiAddr: devAddr(devAPIPortBase, off, i)}
		if edit != nil {
			edit(f.nodes[i])
		}
		if err := f.nodes[i].start(f.bin); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		devStop(f.nodes)
		if tb.Failed() {
			for _, nd := range f.nodes {
				b, _ := os.ReadFile(filepath.Join(nd.dir, "node.log"))
				tb.Logf("--- %s log (tail):\n%s", nd.ag.id, tail(b, 3000))
			}
		}
	})
	if err := devWaitReady(ctx, f.dir, f.nodes); err != nil {
		tb.Fatal(err)
	}
	f.hc, _ = devHTTPClient(f.dir)
	f.clients = make([]*protocol.Client, 3)
	for i, nd := range f.nodes {
		toks, err := devTokens(nd)
		if err != nil {
			tb.Fatal(err)
		}
		f.clients[i] = protocol.NewClient("https://"+nd.apiAddr, toks[node.RoleMatching], f.hc)
	}
	return f
}

// leader is the index of the node that leads now.
func (f *federation) leader(tb testing.TB, ctx context.Context) int {
	tb.Helper()
	st, err := f.clients[0].Cluster(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	for i, nd := range f.nodes {
		if st.LeaderID == nd.ag.id+"-node1" {
			return i
		}
	}
	tb.Fatalf("leader %q is none of the nodes", st.LeaderID)
	return -1
}

// sameHeads waits (at most a minute) until every node answers with the
// same head (size, root, entry hash, state hash), of at least minSize
// entries, and returns it.
func (f *federation) sameHeads(tb testing.TB, ctx context.Context, minSize uint64) ledger.Head {
	tb.Helper()
	var heads []ledger.Head
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		heads = heads[:0]
		for _, cl := range f.clients {
			if h, err := cl.Head(ctx, false); err == nil {
				heads = append(heads, h)
			}
		}
		if len(heads) == 3 && heads[0] == heads[1] && heads[1] == heads[2] && heads[0].Size >= minSize {
			return heads[0]
		}
		if time.Now().After(deadline) {
			tb.Fatalf("heads never agreed at size %d or more: %+v", minSize, heads)
		}
	}
}

// processTest skips the test under -short (it starts real processes) and
// returns a context that ends after limit, or with the test.
func processTest(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return ctx
}

// compactingSnapshots edits a node to snapshot every few entries and keep
// two entries of Raft log behind each snapshot, so a node that stops for
// a few writes needs a snapshot to catch up.
func compactingSnapshots(t *testing.T) func(nd *devNode) {
	return func(nd *devNode) {
		editConfig(t, nd, "  voters_max: 3", "  voters_max: 3\n  snapshot_threshold: 4\n  snapshot_interval: 100ms\n  trailing_logs: 2")
	}
}

// writeUntilSnapshots publishes through cl, a write every 50 ms (raft
// looks for a snapshot to take every 100-200 ms), until snapDir holds two
// snapshots and at least least writes were made; at most 200 writes.
func writeUntilSnapshots(t *testing.T, ctx context.Context, cl *protocol.Client, snapDir, prefix string, least int) {
	t.Helper()
	for i := 0; ; i++ {
		if _, err := cl.Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, fmt.Sprintf("%s-%04d", prefix, i)); err != nil {
			t.Fatal(err)
		}
		ids, _ := os.ReadDir(snapDir)
		if len(ids) == 2 && i+1 >= least {
			return
		}
		if i == 200 {
			t.Fatalf("%s holds %d snapshots after 200 writes", snapDir, len(ids))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
