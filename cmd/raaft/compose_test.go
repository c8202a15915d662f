package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// composeNode is one service of deploy/compose.yaml.
type composeNode struct {
	svc, agency string
	port        int
	c           *protocol.Client
}

// TestComposeFederation runs deploy/compose.yaml for real: the raaft image
// built FROM scratch with a static binary, three containers on a private
// Docker network, configs from deploy/compose-prepare.sh. Through the
// published APIs it races two agencies for one adopter (one wins), kills
// the leader's container with SIGKILL and keeps writing, restarts it, cuts
// the new leader off the network and keeps writing, heals, restarts every
// container gracefully, and checks each time that all three report the
// same ledger head. It needs a Docker engine and Compose: Docker's compose
// plugin, or docker-compose (make test installs it when neither is here).
// In CI (CI set) it fails without them, or under -short; on a developer's
// machine it is skipped then.
func TestComposeFederation(t *testing.T) {
	missing := t.Skipf
	if os.Getenv("CI") != "" {
		missing = t.Fatalf
	}
	if testing.Short() {
		missing("-short: this test builds an image and starts containers")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		missing("no Docker engine here: %v", err)
	}
	composeCmd := composeCommand()
	if composeCmd == nil {
		missing("neither the docker compose plugin nor docker-compose is here")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	// the image, as `make image` builds it
	imgDir := filepath.Join(dir, "image")
	bin := filepath.Join(imgDir, "raaft")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	copyFile(t, filepath.Join("..", "..", "deploy", "Dockerfile"), filepath.Join(imgDir, "Dockerfile"))
	tag := fmt.Sprintf("raaft:compose-test-%d", os.Getpid())
	mustRun(t, ctx, nil, "docker", "build", "-q", "-t", tag, imgDir)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })

	// the federation: keys, configs, a genesis every founder signed
	fed := filepath.Join(dir, "compose")
	if err := os.MkdirAll(fed, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join("..", "..", "deploy", "compose.yaml"), filepath.Join(fed, "compose.yaml"))
	mustRun(t, ctx, []string{"RAAFT=" + bin}, "bash", filepath.Join("..", "..", "deploy", "compose-prepare.sh"), filepath.Join(fed, ".federation"))

	nodes := []*composeNode{{svc: "north", agency: "north-raa"}, {svc: "capital", agency: "capital-raa"}, {svc: "hope", agency: "hope-vaa"}}
	project := fmt.Sprintf("raaftcompose%d", os.Getpid())
	env := []string{"RAAFT_IMAGE=" + tag}
	for _, n := range nodes {
		n.port = freeTCPPort(t)
		env = append(env, fmt.Sprintf("RAAFT_%s_PORT=%d", strings.ToUpper(n.svc), n.port))
	}
	compose := func(args ...string) string {
		t.Helper()
		return mustRun(t, ctx, env, composeCmd[0], append(append(slices.Clone(composeCmd[1:]), "-f", filepath.Join(fed, "compose.yaml"), "-p", project), args...)...)
	}
	compose("up", "-d")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command(composeCmd[0], append(slices.Clone(composeCmd[1:]), "-f", filepath.Join(fed, "compose.yaml"), "-p", project, "logs", "--tail", "40")...).CombinedOutput()
			t.Logf("container logs:\n%s", out)
		}
		c := exec.Command(composeCmd[0], append(slices.Clone(composeCmd[1:]), "-f", filepath.Join(fed, "compose.yaml"), "-p", project, "down", "-v", "--remove-orphans", "-t", "5")...)
		c.Env = append(os.Environ(), env...)
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	for _, n := range nodes {
		hc, err := httpClientWithCA(filepath.Join(fed, ".federation", n.agency, "api.crt"))
		if err != nil {
			t.Fatal(err)
		}
		toks, err := devTokens(&devNode{dir: filepath.Join(fed, ".federation", n.agency)})
		if err != nil {
			t.Fatal(err)
		}
		n.c = protocol.NewClient(fmt.Sprintf("https://localhost:%d", n.port), toks[node.RoleMatching], hc)
	}
	waitReady := func(ns ...*composeNode) {
		t.Helper()
		for _, n := range ns {
			for deadline := time.Now().Add(90 * time.Second); n.c.Ready(ctx) != nil; time.Sleep(250 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s not ready after 90s", n.svc)
				}
			}
		}
	}
	waitReady(nodes...)

	// two agencies reserve the same adopter at once: exactly one wins
	listing := protocol.NewToken()
	if _, err := nodes[0].c.Publish(ctx, protocol.ListingRequest{Token: listing, Attrs: ledgertest.Attrs()}, ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wins := make([]bool, 2)
	for i := range wins {
		wg.Go(func() {
			_, err := nodes[i+1].c.Reserve(ctx, protocol.ReserveRequest{Listing: listing, ChildTokens: []string{protocol.NewToken()}}, "")
			wins[i] = err == nil
		})
	}
	wg.Wait()
	if wins[0] == wins[1] {
		t.Fatalf("reservation race: wins %v; exactly one must win", wins)
	}
	writes := 3 // genesis, listing, hold
	write := func(n *composeNode, label string) {
		t.Helper()
		if _, err := n.c.Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, label); err != nil {
			t.Fatalf("%s through %s: %v", label, n.svc, err)
		}
		writes++
	}
	leaderOf := func(via *composeNode) *composeNode {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
			if st, err := via.c.Cluster(ctx); err == nil {
				for _, n := range nodes {
					if st.LeaderID == n.agency+"-node1" {
						return n
					}
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("no leader after 60s")
			}
		}
	}
	other := func(not *composeNode) *composeNode {
		for _, n := range nodes {
			if n != not {
				return n
			}
		}
		return nil
	}

	// SIGKILL the leader's container; the other two go on
	killed := leaderOf(nodes[0])
	compose("kill", "-s", "SIGKILL", killed.svc)
	for i := range 5 {
		write(other(killed), fmt.Sprintf("after-kill-%04d", i))
	}
	compose("start", killed.svc)
	waitReady(killed)
	sameHeads(t, ctx, nodes, writes)

	// cut the current leader off the federation's network; the majority goes on
	cut := leaderOf(other(killed))
	container := strings.TrimSpace(compose("ps", "-q", cut.svc))
	network := project + "_federation"
	mustRun(t, ctx, nil, "docker", "network", "disconnect", network, container)
	for i := range 5 {
		write(other(cut), fmt.Sprintf("after-cut-%04d", i))
	}
	if l := leaderOf(other(cut)); l == cut {
		t.Fatalf("%s still leads after it was cut off", cut.svc)
	}
	mustRun(t, ctx, nil, "docker", "network", "connect", "--alias", cut.svc, network, container)
	sameHeads(t, ctx, nodes, writes)

	// a graceful restart of every container (SIGTERM): the ledgers were
	// closed cleanly and reopen without a rebuild; the federation goes on
	compose("restart", "-t", "20")
	waitReady(nodes...)
	write(nodes[2], "after-restart")
	sameHeads(t, ctx, nodes, writes)
	if logs := compose("logs", "--no-color"); strings.Contains(logs, "moving it aside") || !strings.Contains(logs, `"deferred_sync":true`) {
		t.Error("a node rebuilt its ledger after a clean restart, or did not defer its ledger's fsync")
	}
}

// sameHeads waits until every node reports the same ledger head, of size want.
func sameHeads(t *testing.T, ctx context.Context, nodes []*composeNode, want int) {
	t.Helper()
	var heads []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		heads = heads[:0]
		for _, n := range nodes {
			h, err := n.c.Head(ctx, false)
			if err != nil {
				heads = append(heads, n.svc+": "+err.Error())
				continue
			}
			heads = append(heads, fmt.Sprintf("%d/%s/%s", h.Size, h.EntryHash, h.Root))
		}
		if heads[0] == heads[1] && heads[1] == heads[2] && strings.HasPrefix(heads[0], fmt.Sprintf("%d/", want)) {
			return
		}
	}
	t.Fatalf("heads after 60s: %q; want all equal, size %d", heads, want)
}

// mustRun runs a command with extra environment and returns its standard output.
func mustRun(t *testing.T, ctx context.Context, env []string, name string, args ...string) string {
	t.Helper()
	c := exec.CommandContext(ctx, name, args...)
	c.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	if err := c.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// freeTCPPort returns a loopback TCP port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// composeCommand is how to run Compose here: Docker's compose plugin
// (`docker compose`) when it answers, else the standalone docker-compose,
// else nil.
func composeCommand() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	return nil
}
