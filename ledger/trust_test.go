package ledger_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

func TestSignatureRules(t *testing.T) {
	x := newTL(t, 3)
	tok := x.publish(0, "l1")
	pay := ledger.TokenPayload{Token: tok}

	t.Run("signed by another agency's key, claiming a1", func(t *testing.T) {
		c, _ := ledger.NewCommand(ledger.TypePause, "forged-0001", "u", pay)
		c.V, c.Agency = 1, "a1"
		b, _ := json.Marshal(c)
		forged, _ := x.ag(1).Signer.Sign(b) // a2's key, kid of a2
		if r := x.raw(forged); r.Accepted || r.Rejection.Code != ledger.CodeUnauthorised {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		s, _ := ledger.NewSigner("a1", ledgertest.Key("stranger"))
		c, _ := ledger.NewCommand(ledger.TypePause, "forged-0002", "u", pay)
		b, _ := s.SignCommand(c)
		if r := x.raw(b); r.Accepted || r.Rejection.Code != ledger.CodeUnauthorised {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("payload altered after signing", func(t *testing.T) {
		good := x.ag(0).Sign(ledger.TypePause, "forged-0003", pay)
		parts := strings.Split(string(good), ".")
		c, _ := ledger.NewCommand(ledger.TypeWithdraw, "forged-0003", "u", pay)
		c.V, c.Agency = 1, "a1"
		b, _ := json.Marshal(c)
		parts[1] = b64(b)
		if r := x.raw([]byte(strings.Join(parts, "."))); r.Accepted || r.Rejection.Code != ledger.CodeUnauthorised {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("not a JWS", func(t *testing.T) {
		if r := x.raw([]byte("garbage")); r.Accepted || r.Rejection.Code != ledger.CodeInvalid {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("alg other than EdDSA", func(t *testing.T) {
		good := string(x.ag(0).Sign(ledger.TypePause, "forged-0004", pay))
		parts := strings.Split(good, ".")
		parts[0] = b64([]byte(`{"alg":"none","kid":"` + x.ag(0).Signer.KID() + `"}`))
		if r := x.raw([]byte(strings.Join(parts, "."))); r.Accepted {
			t.Fatalf("alg none accepted")
		}
	})
	if x.listing(tok).Status != ledger.StatusAvailable {
		t.Fatal("a forged command changed the listing")
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestIdempotency(t *testing.T) {
	x := newTL(t, 3)
	tok := x.publish(0, "l1")
	cmd := x.ag(1).Sign(ledger.TypeReserve, "reserve-once-1", ledger.ReservePayload{Listing: tok, ChildTokens: []string{ledgertest.Token("c")}})
	first := x.raw(cmd)
	head1, _ := x.l.Head()
	state1, _ := x.l.StateHash()
	again := x.raw(cmd)
	if !again.Duplicate || again.Seq != first.Seq || *again.EntryHash != *first.EntryHash {
		t.Fatalf("retry: %+v, first %+v", again, first)
	}
	head2, _ := x.l.Head()
	state2, _ := x.l.StateHash()
	if head1 != head2 || state1 != state2 {
		t.Fatal("a retried command changed the ledger")
	}
	// same id, different content: still the first result
	other := x.ag(1).Sign(ledger.TypeReserve, "reserve-once-1", ledger.ReservePayload{Listing: ledgertest.Token("x"), ChildTokens: []string{ledgertest.Token("c")}})
	if r := x.raw(other); !r.Duplicate || r.Seq != first.Seq {
		t.Fatalf("reused id: %+v", r)
	}
	// a rejected command's retry returns the same rejection
	bad := x.ag(2).Sign(ledger.TypeReserve, "reserve-late-1", ledger.ReservePayload{Listing: tok, ChildTokens: []string{ledgertest.Token("d")}})
	r1, r2 := x.raw(bad), x.raw(bad)
	if r1.Accepted || !r2.Duplicate || r2.Rejection.Message != r1.Rejection.Message {
		t.Fatalf("rejected retry: %+v then %+v", r1, r2)
	}
	// the same id from another agency is a different command
	if r := x.do(2, ledger.TypePublish, ledger.ListingPayload{Token: ledgertest.Token("l2"), Attrs: ledgertest.Attrs()}); !r.Accepted {
		t.Fatal(r.Rejection)
	}
}

func TestForgeryDoesNotPoisonIdempotency(t *testing.T) {
	x := newTL(t, 2)
	tok := x.publish(0, "l1")
	s, _ := ledger.NewSigner("a2", ledgertest.Key("mallory"))
	c, _ := ledger.NewCommand(ledger.TypeReserve, "victim-id-01", "u", ledger.ReservePayload{Listing: tok, ChildTokens: []string{ledgertest.Token("c")}})
	forged, _ := s.SignCommand(c)
	if r := x.raw(forged); r.Accepted {
		t.Fatal("forged accepted")
	}
	real := x.ag(1).Sign(ledger.TypeReserve, "victim-id-01", ledger.ReservePayload{Listing: tok, ChildTokens: []string{ledgertest.Token("c")}})
	if r := x.raw(real); !r.Accepted || r.Duplicate {
		t.Fatalf("genuine command after a forgery with its id: %+v", r)
	}
}

func TestGenesisVerification(t *testing.T) {
	ags := []*ledgertest.Agency{
		ledgertest.NewAgency("north", ledger.KindRAA, false, ""),
		ledgertest.NewAgency("south", ledger.KindVAA, true, ""),
		ledgertest.NewAgency("east", ledger.KindLA, false, ""),
	}
	g := ledger.Genesis{V: 1, Federation: "test", TimeMs: ledgertest.GenesisTimeMs, Policy: ledger.DefaultPolicy()}
	for _, a := range ags {
		g.Agencies = append(g.Agencies, a.Record)
	}
	doc, err := ledger.NewGenesisDocument(g)
	if err != nil {
		t.Fatal(err)
	}
	one, _ := ledger.CosignGenesis(doc, ags[0].Signer)
	two, _ := ledger.CosignGenesis(one, ags[1].Signer)
	all, _ := ledger.CosignGenesis(two, ags[2].Signer)
	if _, err := ledger.VerifyGenesis(all); err != nil {
		t.Fatalf("fully signed genesis: %v", err)
	}
	if _, err := ledger.VerifyGenesis(two); err == nil || !strings.Contains(err.Error(), "east") {
		t.Fatalf("missing founder: %v", err)
	}
	if _, err := ledger.CosignGenesis(all, ags[0].Signer); err == nil {
		t.Fatal("double signature allowed")
	}
	stranger, _ := ledger.NewSigner("x", ledgertest.Key("stranger"))
	extra, _ := ledger.CosignGenesis(all, stranger)
	if _, err := ledger.VerifyGenesis(extra); err == nil {
		t.Fatal("a non-founder signature accepted")
	}
	// a signature from one founder's key replacing another's: each is checked alone
	var gj map[string]any
	json.Unmarshal(all, &gj)
	sigs := gj["signatures"].([]any)
	sigs[2] = sigs[0]
	dup, _ := json.Marshal(gj)
	if _, err := ledger.VerifyGenesis(dup); err == nil {
		t.Fatal("a repeated signature accepted")
	}
	// a tampered signature
	gj["signatures"] = []any{sigs[0], sigs[1], map[string]any{"protected": sigs[1].(map[string]any)["protected"], "signature": sigs[0].(map[string]any)["signature"]}}
	bad, _ := json.Marshal(gj)
	if _, err := ledger.VerifyGenesis(bad); err == nil {
		t.Fatal("bad signature accepted")
	}
	// a ledger refuses another federation's genesis
	x := newTL(t, 2)
	if err := x.l.InitGenesis(all); err == nil {
		t.Fatal("second genesis accepted")
	}
	if err := x.l.InitGenesis(x.fed.Genesis); err != nil {
		t.Fatalf("same genesis again: %v", err)
	}
}

func TestGovernanceQuorum(t *testing.T) {
	x := newTL(t, 4) // quorum: 3 of 4
	newcomer := ledgertest.NewAgency("newcomer", ledger.KindVAA, false, "")
	p := x.ok(0, ledger.TypePropose, ledger.ProposePayload{Action: ledger.ActionAddAgency, Agency: &newcomer.Record})
	x.rejected(ledger.CodeConflict, 0, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: p.Seq})
	x.ok(1, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: p.Seq})
	if _, err := x.l.Agency("newcomer"); err == nil {
		t.Fatal("effective with 2 of 4 approvals")
	}
	x.ok(2, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: p.Seq})
	ag, err := x.l.Agency("newcomer")
	if err != nil || ag.Status != "active" {
		t.Fatalf("after 3 of 4: %v %+v", err, ag)
	}
	x.rejected(ledger.CodeConflict, 3, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: p.Seq})
	// the new member can act
	x.fed.Agencies = append(x.fed.Agencies, newcomer)
	x.publish(4, "newcomer-listing")
	// removal: 3 of 5 now
	rm := x.ok(4, ledger.TypePropose, ledger.ProposePayload{Action: ledger.ActionRemoveAgency, AgencyID: "a4"})
	x.ok(0, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: rm.Seq})
	x.ok(1, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: rm.Seq})
	x.rejected(ledger.CodeUnauthorised, 3, ledger.TypePublish, ledger.ListingPayload{Token: ledgertest.Token("zz"), Attrs: ledgertest.Attrs()})
	x.rejected(ledger.CodeNotFound, 0, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: 999})
}

func TestGovernancePolicyAndExpiry(t *testing.T) {
	x := newTL(t, 3)
	pol := ledger.DefaultPolicy()
	pol.HoldDaysDefault, pol.HoldDaysMax = 14, 21
	p := x.ok(0, ledger.TypePropose, ledger.ProposePayload{Action: ledger.ActionChangePolicy, Policy: &pol})
	x.ok(1, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: p.Seq})
	if got, _ := x.l.Policy(); got != pol {
		t.Fatalf("policy %+v", got)
	}
	bad := pol
	bad.HoldDaysMax = 5 // below default
	x.rejected(ledger.CodeInvalid, 0, ledger.TypePropose, ledger.ProposePayload{Action: ledger.ActionChangePolicy, Policy: &bad})
	// an approval after the proposal window is refused
	p2 := x.ok(0, ledger.TypePropose, ledger.ProposePayload{Action: ledger.ActionChangePolicy, Policy: &pol})
	x.now += 31 * ledgertest.DayMs
	x.rejected(ledger.CodeConflict, 1, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: p2.Seq})
}

func TestKeyRotationAndRevocation(t *testing.T) {
	x := newTL(t, 3)
	newKey := ledgertest.Key("a1-second")
	pub := ledger.EncodePublicKey(newKey.Public().(ed25519.PublicKey))
	// rotation must be signed with the current key: a stranger's signature is refused
	s, _ := ledger.NewSigner("a1", ledgertest.Key("stranger"))
	c, _ := ledger.NewCommand(ledger.TypeRotateKey, "rotate-0001", "u", ledger.RotateKeyPayload{PublicKey: pub})
	b, _ := s.SignCommand(c)
	if r := x.raw(b); r.Accepted {
		t.Fatal("rotation signed by a stranger accepted")
	}
	x.ok(0, ledger.TypeRotateKey, ledger.RotateKeyPayload{PublicKey: pub})
	// the old key no longer signs
	x.rejected(ledger.CodeUnauthorised, 0, ledger.TypePublish, ledger.ListingPayload{Token: ledgertest.Token("k1"), Attrs: ledgertest.Attrs()})
	x.fed.Agencies[0].Signer, _ = ledger.NewSigner("a1", newKey)
	x.publish(0, "k2")
	// revoke a2's key by quorum
	kid := x.ag(1).Signer.KID()
	p := x.ok(0, ledger.TypePropose, ledger.ProposePayload{Action: ledger.ActionRevokeKey, AgencyID: "a2", KID: kid})
	x.ok(2, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: p.Seq})
	x.rejected(ledger.CodeUnauthorised, 1, ledger.TypePublish, ledger.ListingPayload{Token: ledgertest.Token("k3"), Attrs: ledgertest.Attrs()})
	// every entry, including those signed by now-inactive keys, still verifies
	rep, err := x.l.Verify(t.TempDir())
	if err != nil || rep.FirstBadSeq != nil {
		t.Fatalf("verify after rotation: %v %+v", err, rep)
	}
}

func TestNodeRegistry(t *testing.T) {
	x := newTL(t, 2)
	nk := ledger.EncodePublicKey(ledgertest.Key("n1").Public().(ed25519.PublicKey))
	x.ok(0, ledger.TypeRegisterNode, ledger.RegisterNodePayload{Node: ledger.Node{ID: "a1-n1", PublicKey: nk, Address: "127.0.0.1:7401"}})
	if got, err := x.l.NodeByKey(nk); err != nil || got.Agency != "a1" || got.NodeID != "a1-n1" {
		t.Fatalf("NodeByKey: %+v %v", got, err)
	}
	// another agency cannot claim the same key or node id
	x.rejected(ledger.CodeConflict, 1, ledger.TypeRegisterNode, ledger.RegisterNodePayload{Node: ledger.Node{ID: "a2-n1", PublicKey: nk, Address: "127.0.0.1:7402"}})
	nk2 := ledger.EncodePublicKey(ledgertest.Key("n2").Public().(ed25519.PublicKey))
	x.rejected(ledger.CodeConflict, 1, ledger.TypeRegisterNode, ledger.RegisterNodePayload{Node: ledger.Node{ID: "a1-n1", PublicKey: nk2, Address: "127.0.0.1:7402"}})
	x.ok(0, ledger.TypeRemoveNode, ledger.RemoveNodePayload{NodeID: "a1-n1"})
	if _, err := x.l.NodeByKey(nk); err == nil {
		t.Fatal("removed node key still registered")
	}
}

// TestOwnSignaturesTrusted: with TrustOwnSignatures, a command this
// node's signer made is not verified again, and nothing else passes for
// one: the same signature over other bytes, or naming another key, is
// verified in full and refused.
func TestOwnSignaturesTrusted(t *testing.T) {
	x := newTL(t, 2)
	x.l.TrustOwnSignatures(x.ag(0).Signer)
	tok := x.publish(0, "own")
	if n := x.l.OwnSignaturesTrusted(); n != 1 {
		t.Fatalf("%d own signatures trusted after one own command; want 1", n)
	}
	x.publish(1, "other") // another agency's: verified in full
	if n := x.l.OwnSignaturesTrusted(); n != 1 {
		t.Fatalf("%d own signatures trusted after another agency's command; want 1", n)
	}
	signed := x.ag(0).Sign(ledger.TypePause, "own-pause-0001", ledger.TokenPayload{Token: tok})
	parts := strings.Split(string(signed), ".")
	// the own signature over another payload
	other := x.ag(0).Sign(ledger.TypeWithdraw, "own-withdraw-001", ledger.TokenPayload{Token: tok})
	forged := strings.Join([]string{parts[0], strings.Split(string(other), ".")[1], parts[2]}, ".")
	if r := x.raw([]byte(forged)); r.Accepted || r.Rejection.Code != ledger.CodeUnauthorised {
		t.Fatalf("an own signature over other bytes: %+v", r)
	}
	// the own signature under another agency's key id
	other1 := x.ag(1).Sign(ledger.TypePause, "own-pause-0001", ledger.TokenPayload{Token: tok})
	forged = strings.Join([]string{strings.Split(string(other1), ".")[0], parts[1], parts[2]}, ".")
	if r := x.raw([]byte(forged)); r.Accepted {
		t.Fatalf("an own signature under another key id: %+v", r)
	}
	if r := x.raw(signed); !r.Accepted {
		t.Fatalf("the own command itself: %+v", r.Rejection)
	}
	if n := x.l.OwnSignaturesTrusted(); n != 2 {
		t.Fatalf("%d own signatures trusted; want 2 (the publish and the pause; neither forgery)", n)
	}
}
