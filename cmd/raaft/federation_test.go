package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
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
