package main

import (
	"bytes"
	"context"
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

// TestRotateKeyCommands: on a real one-node federation, governance new-key
// writes the waiting key (once), rotate-key switches the agency to it, the
// node's writes go on under the new key, and a second rotate-key with no
// key waiting is refused.
func TestRotateKeyCommands(t *testing.T) {
	n := startCLINode(t)
	cfgPath := filepath.Join(n.nd.dir, "node.yaml")
	newKey := []string{"governance", "new-key", "--config", cfgPath}
	var out, errb bytes.Buffer
	if code := run(newKey, &out, &errb); code != exitOK || !strings.Contains(out.String(), "rotate-key") {
		t.Fatalf("new-key: exit %d: %s%s", code, out.String(), errb.String())
	}
	if code := run(newKey, &out, &errb); code == exitOK {
		t.Fatal("a second new-key overwrote the waiting key")
	}
	next, err := node.ReadKeyFile(filepath.Join(n.nd.dir, "agency.key.next"))
	if err != nil {
		t.Fatal(err)
	}

	n.ok(t, node.RoleOperator, "governance", "rotate-key")
	if got, err := node.ReadKeyFile(filepath.Join(n.nd.dir, "agency.key")); err != nil || !got.Equal(next) {
		t.Fatalf("agency.key after rotate-key: %v", err)
	}
	hc, _ := devHTTPClient(n.dir)
	tok, err := os.ReadFile(filepath.Join(n.nd.dir, node.RoleMatching+".token"))
	if err != nil {
		t.Fatal(err)
	}
	cl := protocol.NewClient("https://"+n.nd.apiAddr, strings.TrimSpace(string(tok)), hc)
	if _, err := cl.Publish(context.Background(), protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, ""); err != nil {
		t.Fatalf("a write after the rotation: %v", err)
	}
	n.exits(t, exitRejected, node.RoleOperator, []string{"governance", "rotate-key"}, "new-key")
}

// TestUnregisteredAgencyKeyIsNeverReady: a node started with an agency key
// that is not one of its agency's keys serves /readyz as 503 naming the
// key, once it has caught up (its registry is then the federation's).
func TestUnregisteredAgencyKeyIsNeverReady(t *testing.T) {
	dir, nd, cfg := prepareOneNode(t)
	stranger := filepath.Join(nd.dir, "stranger.key")
	k, err := node.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := node.WriteKeyFile(stranger, k); err != nil {
		t.Fatal(err)
	}
	cfg.Node.AgencyKeyFile = stranger
	d, err := node.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer d.Shutdown()
	hc, _ := devHTTPClient(dir)
	cl := protocol.NewClient("https://"+nd.apiAddr, "", hc)
	var last error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		last = cl.Ready(context.Background())
		if last == nil {
			t.Fatal("ready with an agency key that is not the agency's")
		}
		if strings.Contains(last.Error(), "is not a key of agency") {
			return
		}
	}
	t.Fatalf("/readyz after 10s: %v; want it to name the unregistered key", last)
}
