package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// TestCheckpointsExportAndVerify: the checkpoints a quorum co-signed are
// listed through the API and exported to a file; after the node stops,
// `ledger verify --checkpoints` accepts its data directory against that
// file, and refuses the file once its state hash, its size (a ledger
// behind the checkpoint, as a rolled-back copy would be), a signature or
// the quorum of signatures is changed.
func TestCheckpointsExportAndVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	dir, nd, cfg := prepareOneNode(t)
	d, err := node.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			d.Shutdown()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := devWaitReady(ctx, dir, []*devNode{nd}); err != nil {
		t.Fatal(err)
	}
	if _, err := devTokens(nd); err != nil {
		t.Fatal(err)
	}
	n := &cliNode{dir: dir, nd: nd}
	hc, _ := devHTTPClient(dir)
	toks, _ := devTokens(nd)
	cl := protocol.NewClient("https://"+nd.apiAddr, toks[node.RoleMatching], hc)
	for i := range 5 {
		if _, err := cl.Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, fmt.Sprintf("cpexport-%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	head, _ := cl.Head(ctx, true)
	file := filepath.Join(t.TempDir(), "cps.json")
	var cps protocol.CheckpointList
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out := n.ok(t, "auditor", "ledger", "checkpoints", "--export", file, "--output", "json")
		cps = decode[protocol.CheckpointList](t, out)
		if len(cps.Checkpoints) > 0 && cps.Checkpoints[len(cps.Checkpoints)-1].Size == head.Size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of the head at %d was co-signed: %+v", head.Size, cps)
		}
	}
	if err := d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	data := cfg.Node.DataDir
	offline := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		return out.String(), errb.String(), code
	}
	out, errOut, code := offline("ledger", "verify", "--data", data, "--checkpoints", file)
	if code != exitOK || !strings.Contains(out, "checkpoints:") {
		t.Fatalf("verify against the exported checkpoints: exit %d\n%s%s\n%s", code, out, errOut, data)
	}
	last := len(cps.Checkpoints) - 1
	cases := []struct {
		name string
		edit func(c *protocol.CheckpointList)
		want string
	}{
		{"state hash", func(c *protocol.CheckpointList) { c.Checkpoints[last].StateHash[3] ^= 1 }, "the checkpoint says root"},
		{"beyond the ledger", func(c *protocol.CheckpointList) { c.Checkpoints[last].Size += 10 }, "behind the checkpoint"},
		{"signature", func(c *protocol.CheckpointList) {
			s := []byte(c.Checkpoints[last].Signatures[0].Signature)
			i := len(s) - 10 // inside the signature, whose every base64 bit counts
			if s[i] == 'A' {
				s[i] = 'B'
			} else {
				s[i] = 'A'
			}
			c.Checkpoints[last].Signatures[0].Signature = string(s)
		}, "does not verify"},
		{"no quorum", func(c *protocol.CheckpointList) { c.Checkpoints[last].Signatures = nil }, "more than half"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var bad protocol.CheckpointList
			raw, _ := os.ReadFile(file)
			json.Unmarshal(raw, &bad)
			c.edit(&bad)
			raw, _ = json.Marshal(bad)
			badFile := filepath.Join(t.TempDir(), "bad.json")
			os.WriteFile(badFile, raw, 0o644)
			_, errOut, code := offline("ledger", "verify", "--data", data, "--checkpoints", badFile)
			if code != exitFailure || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errOut, c.want)
			}
		})
	}
	if _, errOut, code := offline("ledger", "verify", "--data", data, "--checkpoints", filepath.Join(data, "ledger.db")); code != exitUsage || !strings.Contains(errOut, "not a checkpoint file") {
		t.Fatalf("a file that is not a checkpoint file: exit %d, %q", code, errOut)
	}
}
