package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
