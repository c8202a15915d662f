package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
	bolt "go.etcd.io/bbolt"
)

// editBolt changes a stopped node's ledger.db with bbolt, as an operator's
// edit or a restore of the wrong file would.
func editBolt(t *testing.T, path, bucket string, fn func(b *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket([]byte(bucket))) }); err != nil {
		t.Fatal(err)
	}
}

// editFile changes a stopped node's ledger.db byte by byte, as disk rot would.
func editFile(t *testing.T, path string, fn func(b []byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedLedgerNeverServed runs three `raaft node run` processes and,
// one kind of damage at a time, stops a node, damages its ledger.db and
// starts it again. The node must find the damage before its API listens
// (so it never reports ready with it, and never serves the damaged value),
// keep the damaged file aside, rebuild the ledger from its Raft log, and
// end with the same size, root, entry hash and state hash as the others.
func TestDamagedLedgerNeverServed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	bin := filepath.Join(t.TempDir(), "raaft")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	off := freePortOffset(t, 3)
	if _, err := devPrepare(dir, 3, off); err != nil {
		t.Fatal(err)
	}
	nodes := make([]*devNode, 3)
	for i := range nodes {
		nodes[i] = &devNode{ag: devAgencies[i], dir: filepath.Join(dir, devAgencies[i].id), apiAddr: devAddr(devAPIPortBase, off, i)}
		if err := nodes[i].start(bin); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		devStop(nodes)
		if t.Failed() {
			for _, nd := range nodes {
				b, _ := os.ReadFile(filepath.Join(nd.dir, "node.log"))
				t.Logf("--- %s log (tail):\n%s", nd.ag.id, tail(b, 3000))
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := devWaitReady(ctx, dir, nodes); err != nil {
		t.Fatal(err)
	}
	hc, _ := devHTTPClient(dir)
	clients := make([]*protocol.Client, 3)
	for i, nd := range nodes {
		toks, err := devTokens(nd)
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = protocol.NewClient("https://"+nd.apiAddr, toks[node.RoleMatching], hc)
	}
	listing := protocol.NewToken()
	if _, err := clients[0].Publish(ctx, protocol.ListingRequest{Token: listing, Attrs: ledgertest.Attrs()}, ""); err != nil {
		t.Fatal(err)
	}
	writes := 0
	write := func(i int) {
		t.Helper()
		writes++
		if _, err := clients[i].Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, fmt.Sprintf("dmg-%04d", writes)); err != nil {
			t.Fatal(err)
		}
	}
	for range 6 {
		write(1)
	}

	ledgerPath := func(i int) string { return filepath.Join(nodes[i].dir, "data", "ledger.db") }
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"a byte of a stored command", func(t *testing.T, path string) {
			editBolt(t, path, "entries", func(b *bolt.Bucket) error {
				v := bytes.Clone(b.Get(binary.BigEndian.AppendUint64(nil, 1)))
				v[len(v)-10] ^= 1
				return b.Put(binary.BigEndian.AppendUint64(nil, 1), v)
			})
		}},
		{"a listing's record", func(t *testing.T, path string) {
			editBolt(t, path, "listings", func(b *bolt.Bucket) error {
				k, v := b.Cursor().First()
				v = bytes.Clone(v)
				v[len(v)-1] ^= 1
				return b.Put(bytes.Clone(k), v)
			})
		}},
		{"the applied index raised", func(t *testing.T, path string) {
			editBolt(t, path, "local", func(b *bolt.Bucket) error {
				v := binary.BigEndian.Uint64(b.Get([]byte("applied_index")))
				return b.Put([]byte("applied_index"), binary.BigEndian.AppendUint64(nil, v+5))
			})
		}},
		{"the applied index lowered", func(t *testing.T, path string) {
			editBolt(t, path, "local", func(b *bolt.Bucket) error {
				v := binary.BigEndian.Uint64(b.Get([]byte("applied_index")))
				return b.Put([]byte("applied_index"), binary.BigEndian.AppendUint64(nil, v-3))
			})
		}},
		{"truncated to half", func(t *testing.T, path string) {
			editFile(t, path, func(b []byte) []byte { return b[:len(b)/2] })
		}},
		{"zero-filled", func(t *testing.T, path string) {
			editFile(t, path, func(b []byte) []byte { return make([]byte, len(b)) })
		}},
		{"a flipped byte in a page header", func(t *testing.T, path string) {
			editFile(t, path, func(b []byte) []byte {
				for p := 4; p*4096 < len(b); p++ { // every page past the meta and freelist pages
					b[p*4096+8] ^= 0x40 // the page's flags
				}
				return b
			})
		}},
	}
	for ci, c := range cases {
		i := ci % 3
		t.Run(c.name, func(t *testing.T) {
			before, err := clients[(i+1)%3].Head(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			devStop(nodes[i : i+1])
			c.damage(t, ledgerPath(i))
			os.Truncate(filepath.Join(nodes[i].dir, "node.log"), 0)
			if err := nodes[i].start(bin); err != nil {
				t.Fatal(err)
			}
			// the federation goes on while the node rebuilds
			write((i + 1) % 3)
			if err := devWaitReady(ctx, dir, nodes[i:i+1]); err != nil {
				t.Fatal(err)
			}
			var heads []ledger.Head
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				heads = heads[:0]
				for _, cl := range clients {
					h, err := cl.Head(ctx, false)
					if err != nil {
						t.Fatal(err)
					}
					heads = append(heads, h)
				}
				if heads[0] == heads[1] && heads[1] == heads[2] && heads[0].Size > before.Size {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("heads never agreed: %+v", heads)
				}
			}
			if heads[0].StateHash == (ledger.Hash{}) {
				t.Fatal("no state hash in the head")
			}
			li, err := clients[i].Listing(ctx, listing, false)
			if err != nil || li.Status != ledger.StatusAvailable {
				t.Fatalf("the listing on the repaired node: %+v, %v", li, err)
			}
			logb, _ := os.ReadFile(filepath.Join(nodes[i].dir, "node.log"))
			if c.name == "the applied index lowered" {
				// entries applied again are recognised by their idempotency ids
				return
			}
			if !strings.Contains(string(logb), "damaged") {
				t.Fatalf("the node did not report damage; its log:\n%s", tail(logb, 2000))
			}
			if aside, _ := filepath.Glob(ledgerPath(i) + ".damaged-*"); len(aside) == 0 {
				t.Fatal("the damaged file was not kept aside")
			}
		})
	}
}
