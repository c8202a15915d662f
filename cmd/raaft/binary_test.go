package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/protocol"
)

// freePortOffset finds an offset at which the dev ports (QUIC and API) are free.
func freePortOffset(t testing.TB, n int) int {
	for off := 1000 + os.Getpid()%500*10; off < 20000; off += 37 {
		ok := true
		for i := range n {
			for _, a := range []string{devAddr(devRaftPortBase, off, i), devAddr(devAPIPortBase, off, i)} {
				if c, err := net.ListenPacket("udp", a); err != nil {
					ok = false
				} else {
					c.Close()
				}
				if l, err := net.Listen("tcp", a); err != nil {
					ok = false
				} else {
					l.Close()
				}
			}
		}
		if ok {
			return off
		}
	}
	t.Fatal("no free ports")
	return 0
}

// TestWholeBinary builds raaft, runs three `raaft node run` processes,
// races two agencies for one adopter, kills the leader with SIGKILL, keeps
// writing, restarts it, and checks every node reports the same ledger head.
func TestWholeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	fed := startFederation(t, ctx, nil)
	bin, dir, nodes, clients := fed.bin, fed.dir, fed.nodes, fed.clients
	listing := protocol.NewToken()
	if _, err := clients[0].Publish(ctx, protocol.ListingRequest{Token: listing, Attrs: ledgertest.Attrs()}, ""); err != nil {
		t.Fatal(err)
	}
	// two agencies reserve the same adopter at the same moment: exactly one wins
	var wg sync.WaitGroup
	wins := make([]bool, 2)
	for i := 1; i <= 2; i++ {
		wg.Go(func() {
			_, err := clients[i].Reserve(ctx, protocol.ReserveRequest{Listing: listing, ChildTokens: []string{protocol.NewToken()}}, "")
			wins[i-1] = err == nil
		})
	}
	wg.Wait()
	if wins[0] == wins[1] {
		t.Fatalf("reservation race: wins %v; exactly one must win", wins)
	}
	// kill the leader with SIGKILL, keep writing through the others
	st, err := clients[0].Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := -1
	for i, nd := range nodes {
		if st.LeaderID == nd.ag.id+"-node1" {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatalf("no leader in %+v", st)
	}
	if err := nodes[leader].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-nodes[leader].done
	other := (leader + 1) % 3
	for i := range 10 {
		if _, err := clients[other].Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, fmt.Sprintf("after-kill-%04d", i)); err != nil {
			t.Fatalf("write %d after the leader died: %v", i, err)
		}
	}
	if err := nodes[leader].start(bin); err != nil {
		t.Fatal(err)
	}
	if err := devWaitReady(ctx, dir, nodes[leader:leader+1]); err != nil {
		t.Fatal(err)
	}
	// every node reports the same sequence, entry hash and root
	deadline := time.Now().Add(30 * time.Second)
	for {
		var heads []string
		for _, c := range clients {
			h, err := c.Head(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			heads = append(heads, fmt.Sprintf("%d/%s/%s", h.Size, h.EntryHash, h.Root))
		}
		if heads[0] == heads[1] && heads[1] == heads[2] {
			if want := fmt.Sprintf("%d/", 1+1+1+10); heads[0][:len(want)] != want {
				t.Fatalf("head %s; want size 13 (genesis, listing, one hold, ten writes)", heads[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes disagree: %v", heads)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// raft's timings reach every node's /metrics: each applies batches,
	// and whoever leads now has committed the writes above
	for i, c := range clients {
		m, err := c.Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"raaft_raft_fsm_applyBatch{quantile=", "raaft_api_requests_total{"}
		if st, err := c.Cluster(ctx); err == nil && st.LeaderID == nodes[i].ag.id+"-node1" {
			want = append(want, "raaft_raft_commitTime{quantile=")
		}
		for _, w := range want {
			if !strings.Contains(string(m), w) {
				t.Errorf("%s /metrics has no %s", nodes[i].ag.id, w)
			}
		}
	}
	winner := 1
	if wins[1] {
		winner = 2
	}
	feeJourney(t, dir, nodes, winner, listing, clients)
}

// feeJourney follows a fee from placement to settlement through the CLI:
// the winner confirms and places, the approving agency (north) invoices,
// the winner acknowledges and pays, north confirms receipt; then north's
// statement shows the fee and netting has nothing left to clear.
func feeJourney(t *testing.T, dir string, nodes []*devNode, winner int, listing string, clients []*protocol.Client) {
	ctx := context.Background()
	cli := func(i int, role string, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		all := append(args, "--node", "https://"+nodes[i].apiAddr, "--token-file", filepath.Join(nodes[i].dir, role+".token"), "--ca", filepath.Join(dir, "ca.pem"), "--output", "json")
		if code := run(all, &out, &errb); code != exitOK {
			t.Fatalf("raaft %v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	v, err := clients[winner].Listing(ctx, listing, true)
	if err != nil || v.Hold == nil {
		t.Fatalf("winner's hold: %v", err)
	}
	id := strconv.FormatUint(v.Hold.ID, 10)
	cli(winner, "matching", "reservations", "confirm", id)
	var placed protocol.WriteResult
	json.Unmarshal([]byte(cli(winner, "matching", "reservations", "place", id)), &placed)
	ob := strconv.FormatUint(placed.Seq, 10)
	first := func(js string) ledger.Obligation {
		var os []ledger.Obligation
		if err := json.Unmarshal([]byte(js), &os); err != nil || len(os) != 1 {
			t.Fatalf("obligations %v: %s", err, js)
		}
		return os[0]
	}
	o := first(cli(0, "finance", "fees", "obligations", "--role", "creditor"))
	if o.ID != placed.Seq || o.AmountPence <= 0 {
		t.Fatalf("north's obligations: %+v (placement %d)", o, placed.Seq)
	}
	amount := ledger.FormatPounds(o.AmountPence)
	cli(0, "finance", "fees", "invoice", ob, "--amount", amount)
	cli(winner, "finance", "fees", "acknowledge", ob)
	var pay protocol.WriteResult
	json.Unmarshal([]byte(cli(winner, "finance", "fees", "pay", ob, "--amount", amount)), &pay)
	cli(0, "finance", "fees", "confirm-receipt", strconv.FormatUint(pay.Seq, 10))
	year, _ := ledger.FeeYearOf(o.MoveInDate)
	var out, errb bytes.Buffer
	args := []string{"fees", "statement", "--year", strconv.Itoa(year), "--node", "https://" + nodes[0].apiAddr,
		"--token-file", filepath.Join(nodes[0].dir, "finance.token"), "--ca", filepath.Join(dir, "ca.pem")}
	if code := run(args, &out, &errb); code != exitOK || !strings.Contains(out.String(), amount) {
		t.Fatalf("statement (exit %d): %s %s", code, out.String(), errb.String())
	}
	settled := first(cli(winner, "auditor", "fees", "obligations", "--role", "debtor"))
	if settled.Status != "settled" {
		t.Fatalf("after payment and receipt the obligation is %q", settled.Status)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

var execCommand = exec.Command
