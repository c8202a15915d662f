package node_test

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// failingPromote is KeyFiles whose Promote fails while fail is set: a node
// that stopped between the ledger accepting a rotation and switching files.
type failingPromote struct {
	node.KeyFiles
	fail bool
}

func (f *failingPromote) Promote() error {
	if f.fail {
		return errors.New("disk full")
	}
	return f.KeyFiles.Promote()
}

// TestRotateAgencyKey: rotate-key needs a waiting key; the rotation is an
// entry signed with the old key, after which writes are signed with the
// new one and the key files are swapped; a rotation the ledger holds but
// the node could not finish is finished by asking again.
func TestRotateAgencyKey(t *testing.T) {
	dir := t.TempDir()
	keys := &failingPromote{KeyFiles: node.KeyFiles{Path: filepath.Join(dir, "agency.key")}}
	e := newTestEnvWith(t, envOptions{keys: keys})
	old := e.fed.Agencies[0].Key
	if err := node.WriteKeyFile(keys.Path, old); err != nil {
		t.Fatal(err)
	}
	key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }

	r := e.do(t, "POST", "/v1/agency/rotate-key", "", node.RoleOperator, key("rotate-0001"))
	if r.status != 409 || !strings.Contains(r.body, "new-key") {
		t.Fatalf("no waiting key: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/agency/rotate-key", "", node.RoleMatching, key("rotate-0002")); r.status != 403 {
		t.Fatalf("matching officer rotated: %d", r.status)
	}

	// the current key copied into place is not a rotation
	if err := node.WriteKeyFile(keys.NextPath(), old); err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, "POST", "/v1/agency/rotate-key", "", node.RoleOperator, key("rotate-0006")); r.status != 409 || !strings.Contains(r.body, "already in node.agency_key_file") {
		t.Fatalf("rotating to the current key: %d %s", r.status, r.body)
	}
	if err := os.Remove(keys.NextPath()); err != nil {
		t.Fatal(err)
	}

	next, err := node.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := node.WriteKeyFile(keys.NextPath(), next); err != nil {
		t.Fatal(err)
	}
	newKID, _ := ledger.KeyID(next.Public().(ed25519.PublicKey))
	size := e.size(t)
	keys.fail = true
	if r := e.do(t, "POST", "/v1/agency/rotate-key", "", node.RoleOperator, key("rotate-0003")); r.status != 500 {
		t.Fatalf("rotation with the key files stuck: %d %s", r.status, r.body)
	}
	if e.size(t) != size+1 {
		t.Fatalf("ledger size %d, want %d: the rotation entry", e.size(t), size+1)
	}
	if active := activeKID(t, e.l); active != newKID {
		t.Fatalf("active key %s after the rotation, want %s", active, newKID)
	}

	keys.fail = false
	r = e.do(t, "POST", "/v1/agency/rotate-key", "", node.RoleOperator, key("rotate-0004"))
	if r.status != 200 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("finishing the rotation: %d %s", r.status, r.body)
	}
	if e.size(t) != size+1 {
		t.Fatal("finishing the rotation wrote a second entry")
	}
	if got, err := node.ReadKeyFile(keys.Path); err != nil || !got.Equal(next) {
		t.Fatalf("agency key file after the rotation: %v", err)
	}
	if _, err := os.Stat(keys.NextPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("waiting key still there: %v", err)
	}
	if retired, _ := filepath.Glob(keys.Path + ".retired-*"); len(retired) != 1 {
		t.Fatalf("retired keys %v, want the old one", retired)
	}

	// the old key is refused from now on, and the node's next write is
	// accepted: it is signed with the new key
	oldSigner, err := ledger.NewSigner("a1", old)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ledger.NewCommand(ledger.TypePublish, "old-key-write", "u", ledger.ListingPayload{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()})
	signed, _ := oldSigner.SignCommand(c)
	if res, err := e.rep.LocalReplicator.Propose(t.Context(), signed); err != nil || res.Rejection == nil || res.Rejection.Code != ledger.CodeUnauthorised {
		t.Fatalf("a write signed with the retired key: %v %+v", err, res)
	}
	e.publish(t)
	if r := e.do(t, "POST", "/v1/agency/rotate-key", "", node.RoleOperator, key("rotate-0005")); r.status != 409 {
		t.Fatalf("rotation with no waiting key: %d", r.status)
	}
	// a retry of the request that made the entry gets its first answer
	if r := e.do(t, "POST", "/v1/agency/rotate-key", "", node.RoleOperator, key("rotate-0003")); r.status != 200 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry of the accepted rotation: %d %s", r.status, r.body)
	}
}

func activeKID(t *testing.T, l *ledger.Ledger) string {
	t.Helper()
	ag, err := l.Agency("a1")
	if err != nil {
		t.Fatal(err)
	}
	return ag.ActiveKID()
}
