package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raaft/raaft/config"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// apiRoutes returns the operations of a real node.Server. Its ledger,
// replicator and authenticator are the cheapest real ones (a one-agency
// genesis, LocalReplicator): only Routes() is used.
func apiRoutes(t *testing.T) []node.Route {
	t.Helper()
	ag := ledgertest.NewAgency("solo", ledger.KindRAA, false, "")
	fed := ledgertest.Found([]*ledgertest.Agency{ag}, ledger.DefaultPolicy())
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	rep, err := node.NewLocalReplicator(l, "solo-node", "solo", nil)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := node.NewDevIssuer(ledgertest.Key("issuer"), "test-issuer", "raaft", "solo")
	if err != nil {
		t.Fatal(err)
	}
	auth, err := node.NewAuthenticator(node.AuthConfig{Issuer: "test-issuer", Audience: "raaft", Keys: iss.Keys(), Skew: time.Minute, Agency: "solo"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := node.NewServer(node.ServerConfig{Ledger: l, Replicator: rep, Signer: ag.Signer, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	return srv.Routes()
}

// TestEveryOperationHasACommand: each operation of the node's API is
// named by exactly one raaft command (the raaft.operations annotation),
// each command names only operations that exist, and each takes --output.
func TestEveryOperationHasACommand(t *testing.T) {
	root := newRoot(io.Discard, io.Discard)
	cmds, err := commandsByOperation(root)
	if err != nil {
		t.Fatal(err)
	}
	routes := apiRoutes(t)
	ops := map[string]bool{}
	for _, r := range routes {
		ops[r.OperationID] = true
		path, ok := cmds[r.OperationID]
		if !ok {
			t.Errorf("%s %s (%s) has no raaft command: add one and mark it with operation(cmd, %q)", r.Method, r.Pattern, r.OperationID, r.OperationID)
			continue
		}
		c, _, err := root.Find(strings.Fields(path)[1:])
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if c.Flag("output") == nil || c.Flag("node") == nil || c.Flag("token") == nil {
			t.Errorf("%s (%s) lacks --output, --node or --token", path, r.OperationID)
		}
	}
	for op, path := range cmds {
		if !ops[op] {
			t.Errorf("%s claims operation %q, which the node does not serve", path, op)
		}
	}
	if !ops["publishListing"] || !ops["metrics"] {
		t.Fatalf("Routes() lacks publishListing or metrics: is it still the whole API? %v", ops)
	}
}

// cliNode is a real one-node federation in this process: keys, CA,
// genesis and node.yaml from devPrepare, the daemon `raaft node run`
// starts (ledger on bbolt, Raft over QUIC, HTTPS API), and a token file
// per role.
type cliNode struct {
	dir string // the federation's
	nd  *devNode
}

// prepareOneNode writes a one-node federation (keys, CA, genesis,
// node.yaml) into a temporary directory and returns it, its node and the
// node's loaded config.
func prepareOneNode(t *testing.T) (string, *devNode, config.Config) {
	t.Helper()
	dir := t.TempDir()
	off := freePortOffset(t, 1)
	if _, err := devPrepare(dir, 1, off); err != nil {
		t.Fatal(err)
	}
	nd := &devNode{ag: devAgencies[0], dir: filepath.Join(dir, devAgencies[0].id), apiAddr: devAddr(devAPIPortBase, off, 0)}
	cfg, err := config.Load(config.LoadOptions{File: filepath.Join(nd.dir, "node.yaml"), Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return dir, nd, cfg
}

func startCLINode(t *testing.T) *cliNode {
	t.Helper()
	dir, nd, cfg := prepareOneNode(t)
	d, err := node.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := devWaitReady(ctx, dir, []*devNode{nd}); err != nil {
		t.Fatal(err)
	}
	if _, err := devTokens(nd); err != nil {
		t.Fatal(err)
	}
	return &cliNode{dir: dir, nd: nd}
}

// run runs raaft with args as a user of role, against the node.
func (n *cliNode) run(role string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	all := append(slices.Clone(args), "--node", "https://"+n.nd.apiAddr, "--ca", filepath.Join(n.dir, "ca.pem"))
	if role != "" {
		all = append(all, "--token-file", filepath.Join(n.nd.dir, role+".token"))
	}
	code = run(all, &out, &errb)
	return out.String(), errb.String(), code
}

// ok runs raaft and fails the test unless it exits 0.
func (n *cliNode) ok(t *testing.T, role string, args ...string) string {
	t.Helper()
	out, errOut, code := n.run(role, args...)
	if code != exitOK {
		t.Fatalf("raaft %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// exits runs raaft and fails the test unless it exits with want and its
// stderr holds every one of msgs.
func (n *cliNode) exits(t *testing.T, want int, role string, args []string, msgs ...string) {
	t.Helper()
	out, errOut, code := n.run(role, args...)
	if code != want {
		t.Fatalf("raaft %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	for _, m := range msgs {
		if !strings.Contains(errOut, m) {
			t.Fatalf("raaft %s: stderr %q lacks %q", strings.Join(args, " "), errOut, m)
		}
	}
}

func decode[T any](t *testing.T, js string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(js), &v); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	return v
}

// TestListingAndLedgerCommands runs the listing, ledger, registry and node
// commands against a real node: a listing's whole life (publish, update,
// pause, resume, withdraw, history), the entry and both proofs, every
// output format, and each exit code (usage, rejected, unreachable).
func TestListingAndLedgerCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	n := startCLINode(t)
	tok := protocol.NewToken()
	publish := []string{"listings", "publish", tok, "--approval-date", "2026-01-15", "--region", "north_west", "--local-authority", "E08000003",
		"--travel-band", "regional", "--age-max", "6", "--children-max", "2", "--sibling-group-ok", "--need", "trauma_attachment=medium", "--ethnicity-openness", "high"}

	t.Run("usage errors exit 2 naming the flag", func(t *testing.T) {
		n.exits(t, exitUsage, "matching", append(slices.Clone(publish), "--region", "mars"), "--region \"mars\"", "north_east", "northern_ireland")
		n.exits(t, exitUsage, "matching", append(slices.Clone(publish), "--need", "courage=high"), "--need \"courage\"", "medical_needs")
		n.exits(t, exitUsage, "matching", append(slices.Clone(publish), "--religion-openness", "some"), "--religion-openness \"some\"", "none, low, medium, high")
		n.exits(t, exitUsage, "matching", []string{"listings", "publish", "--region", "london"}, "--approval-date", "--local-authority", "--travel-band")
		n.exits(t, exitUsage, "matching", []string{"listings", "update", tok}, "nothing to change")
		n.exits(t, exitUsage, "auditor", []string{"ledger", "head", "--output", "yaml"}, "--output \"yaml\"")
		n.exits(t, exitUsage, "auditor", []string{"ledger", "entry", "first"}, "sequence \"first\"")
		n.exits(t, exitUsage, "auditor", []string{"ledger", "inclusion"}, "accepts 1 arg")
	})

	// publish (table, the default), update (json), read back
	if out := n.ok(t, "matching", publish...); !strings.Contains(out, "RESULT") || !strings.Contains(out, "accepted") || !strings.Contains(out, tok) {
		t.Fatalf("publish table: %s", out)
	}
	pub := decode[ledger.ListingView](t, n.ok(t, "matching", "listings", "get", tok, "--output", "json"))
	upd := decode[protocol.WriteResult](t, n.ok(t, "matching", "listings", "update", tok, "--travel-band", "national", "--need", "medical_needs=high", "--output", "json"))
	if !upd.Accepted || upd.Seq <= pub.Created {
		t.Fatalf("update: %+v after publish at %d", upd, pub.Created)
	}
	got := decode[ledger.ListingView](t, n.ok(t, "matching", "listings", "get", tok, "--output", "json"))
	want := pub.Attrs
	want.TravelBand, want.Needs.MedicalNeeds = "national", ledger.LevelHigh
	if got.Attrs != want || want.Needs.TraumaAttachment != ledger.LevelMedium || want.ChildrenMax != 2 {
		t.Fatalf("after update: %+v\nwant %+v (the flags given changed, the rest kept)", got.Attrs, want)
	}

	for _, step := range []struct{ action, status string }{{"pause", ledger.StatusPaused}, {"resume", ledger.StatusAvailable}, {"withdraw", ledger.StatusWithdrawn}} {
		n.ok(t, "matching", "listings", step.action, tok)
		if v := decode[ledger.ListingView](t, n.ok(t, "matching", "listings", "get", tok, "--output", "json")); v.Status != step.status {
			t.Fatalf("after %s: status %q, want %q", step.action, v.Status, step.status)
		}
	}
	t.Run("rejected by the ledger exits 3", func(t *testing.T) {
		n.exits(t, exitRejected, "matching", []string{"listings", "resume", tok}, "withdrawn")
		n.exits(t, exitRejected, "auditor", []string{"listings", "publish", "--approval-date", "2026-01-15", "--region", "london",
			"--local-authority", "E09000001", "--travel-band", "local"}) // auditors may not publish
		n.exits(t, exitRejected, "matching", []string{"reservations", "get", "999999"}, "404")
	})

	// history (csv): a header row, then the five entries in order
	hist := strings.Split(strings.TrimSpace(n.ok(t, "auditor", "listings", "history", tok, "--output", "csv")), "\n")
	if len(hist) != 6 || hist[0] != strings.Join(entryHeader, ",") {
		t.Fatalf("history csv: %q", hist)
	}
	for i, typ := range []string{ledger.TypePublish, ledger.TypeUpdate, ledger.TypePause, ledger.TypeResume, ledger.TypeWithdraw} {
		if f := strings.Split(hist[i+1], ","); f[3] != typ || f[4] != "north-raa" {
			t.Fatalf("history row %d: %q; want %s by north-raa", i+1, hist[i+1], typ)
		}
	}
	seq := strconv.FormatUint(pub.Created, 10)

	// the entry, its inclusion proof and a consistency proof, checked here
	if out := n.ok(t, "auditor", "ledger", "entry", seq); !strings.Contains(out, ledger.TypePublish) || !strings.Contains(out, "signed: ey") {
		t.Fatalf("entry table: %s", out)
	}
	e := decode[protocol.Entry](t, n.ok(t, "auditor", "ledger", "entry", seq, "--output", "json"))
	head := decode[ledger.Head](t, n.ok(t, "auditor", "ledger", "head", "--output", "json", "--linearizable"))
	if head.Size < upd.Seq+4 {
		t.Fatalf("head %+v; want at least %d entries", head, upd.Seq+4)
	}
	size := strconv.FormatUint(head.Size, 10)
	incl := decode[ledger.InclusionProof](t, n.ok(t, "auditor", "ledger", "inclusion", seq, "--size", size, "--output", "json"))
	if incl.Seq != pub.Created || incl.LeafHash != e.LeafHash || incl.Root != head.Root || incl.Verify() != nil {
		t.Fatalf("inclusion proof %+v for entry %+v in head %+v", incl, e.Record, head)
	}
	cons := n.ok(t, "auditor", "ledger", "consistency", seq, size, "--output", "csv")
	if lines := strings.Split(strings.TrimSpace(cons), "\n"); len(lines) != 2 || lines[0] != "SIZE1,ROOT1,SIZE2,ROOT2,PATH_HASHES,VERIFIED" ||
		!strings.HasSuffix(lines[1], ",true") || !strings.Contains(lines[1], head.Root.String()) {
		t.Fatalf("consistency csv: %q", cons)
	}
	n.exits(t, exitRejected, "auditor", []string{"ledger", "inclusion", "999999"}, "404")

	t.Run("registry, node and finance reads", func(t *testing.T) {
		if out := n.ok(t, "operator", "agencies"); !strings.Contains(out, "north-raa") || !strings.Contains(out, "active") {
			t.Fatalf("agencies: %s", out)
		}
		if out := n.ok(t, "matching", "policy", "--output", "csv"); !strings.HasPrefix(out, "HOLD_DAYS_DEFAULT,HOLD_DAYS_MAX") || !strings.Contains(out, "\n28,28,28,1,3,30") {
			t.Fatalf("policy csv: %q", out)
		}
		if out := n.ok(t, "", "node", "status"); !strings.Contains(out, "ready") {
			t.Fatalf("node status: %s", out)
		}
		if out := n.ok(t, "", "node", "metrics", "--name", "raaft_api_requests_total", "--output", "csv"); !strings.Contains(out, `op=""publishListing""`) {
			t.Fatalf("metrics csv: %s", out)
		}
		if p := decode[ledger.FeePosition](t, n.ok(t, "finance", "fees", "position", "--output", "json")); p.Agency != "north-raa" || p.Open != 0 {
			t.Fatalf("position: %+v", p)
		}
	})

	t.Run("the token may come from RAAFT_TOKEN", func(t *testing.T) {
		toks, err := devTokens(n.nd)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("RAAFT_TOKEN", toks[node.RoleAuditor])
		if out := n.ok(t, "", "ledger", "head"); !strings.Contains(out, "SIZE") {
			t.Fatalf("head: %s", out)
		}
	})

	t.Run("unreachable exits 4", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		var out, errb bytes.Buffer
		if code := run([]string{"ledger", "head", "--node", "https://" + addr, "--token", "x", "--timeout", "5s"}, &out, &errb); code != exitUnreachable {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	})
}
