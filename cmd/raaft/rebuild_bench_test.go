package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// rebuildEntries is the ledger size BenchmarkRebuildInPlace writes first:
// RAAFT_BENCH_REBUILD_ENTRIES, default 100,000.
func rebuildEntries(b *testing.B) int {
	n := 100_000
	if s := os.Getenv("RAAFT_BENCH_REBUILD_ENTRIES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("RAAFT_BENCH_REBUILD_ENTRIES=%q: want an integer of at least 1000", s)
		}
		n = v
	}
	return n
}

// logTime is the time of the first line of a node's JSON log holding msg.
func logTime(b *testing.B, nd *devNode, msg string) (time.Time, map[string]any) {
	f, err := os.Open(filepath.Join(nd.dir, "node.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(msg)) {
			continue
		}
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			ts, _ := time.Parse(time.RFC3339Nano, line["time"].(string))
			return ts, line
		}
	}
	b.Fatalf("%s logged no %q", nd.ag.id, msg)
	return time.Time{}, nil
}

// BenchmarkRebuildInPlace measures, on three node processes whose ledger
// holds RAAFT_BENCH_REBUILD_ENTRIES entries (default 100,000: holds
// placed and released by 64 clients), how long a follower takes from
// finding that its ledger differs from the quorum's (its log line
// DIVERGED) to serving again: rebuilt in place from its Raft snapshot and
// log, caught up, and answering with the same head as the leader. Each
// iteration changes one listing's record in the follower's ledger.db
// under it and writes to that listing, which makes the follower's state
// hash differ.
func BenchmarkRebuildInPlace(b *testing.B) {
	n := rebuildEntries(b)
	ctx := context.Background()
	fed := startFederation(b, ctx, nil)
	nodes, hc := fed.nodes, fed.hc
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 128
	ws, err := holdWorkers(ctx, nodes, hc, 64)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := holdLoad(ctx, ws, max(n/len(ws), 2)&^1); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d entries in %s", n, time.Since(start).Round(time.Second))
	leader, followers := clusterRoles(b, nodes, hc)
	f := followers[0]
	toks, _ := devTokens(f)
	fc := protocol.NewClient("https://"+f.apiAddr, toks[node.RoleMatching], hc)
	ltoks, _ := devTokens(leader)
	lc := protocol.NewClient("https://"+leader.apiAddr, ltoks[node.RoleMatching], hc)
	var total, rebuild time.Duration
	k := 0
	for b.Loop() {
		w := ws[k%len(ws)]
		k++
		if flipInFile(b, filepath.Join(f.dir, "data", "ledger.db"), []byte(w.listing)) == 0 {
			b.Fatal("the listing's record is not in the follower's file")
		}
		r, err := w.c.Reserve(ctx, protocol.ReserveRequest{Listing: w.listing, ChildTokens: []string{protocol.NewToken()}}, "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.c.Release(ctx, r.ID, "", ""); err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		waitLog(b, wctx, f, "ledger rebuilt in place")
		for {
			lh, err1 := lc.Head(wctx, false)
			fh, err2 := fc.Head(wctx, false)
			if err1 == nil && err2 == nil && lh == fh {
				break
			}
			if wctx.Err() != nil {
				b.Fatalf("the follower never served the leader's head again: %v %v", err1, err2)
			}
			time.Sleep(20 * time.Millisecond)
		}
		serving := time.Now()
		cancel()
		detected, _ := logTime(b, f, "DIVERGED:")
		_, line := logTime(b, f, "ledger rebuilt in place")
		total += serving.Sub(detected)
		rebuild += time.Duration(line["took_ms"].(float64)) * time.Millisecond
		os.Truncate(filepath.Join(f.dir, "node.log"), 0) // the next iteration's lines are its own
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "detect-to-serving-ms")
	b.ReportMetric(float64(rebuild.Milliseconds())/float64(b.N), "rebuild-ms")
	b.ReportMetric(float64(n), "entries")
	b.ReportMetric(0, "ns/op")
}
