// Package ledgertest builds test federations: agencies with deterministic
// keys, a genesis every founder signed, and helpers to sign commands and
// wrap them in envelopes. It is used by the tests of ledger, consensus and
// node; nothing in production imports it.
package ledgertest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/raaft/raaft/ledger"
)

// GenesisTimeMs is the ledger time of test geneses: 2026-04-01T00:00:00Z.
const GenesisTimeMs = int64(1775001600000)

// DayMs is one day in ms.
const DayMs = int64(86_400_000)

// Agency is a test agency with its signing and node keys.
type Agency struct {
	Record  ledger.AgencyRecord
	Key     ed25519.PrivateKey
	NodeKey ed25519.PrivateKey
	Signer  *ledger.Signer
}

// Federation is a set of founding agencies and their signed genesis.
type Federation struct {
	Agencies []*Agency
	Genesis  []byte
}

// Key derives a deterministic Ed25519 key from a label.
func Key(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("raaft-test-key:" + label))
	return ed25519.NewKeyFromSeed(seed[:])
}

// NewAgency makes a test agency record with deterministic keys.
func NewAgency(id string, kind ledger.AgencyKind, london bool, nodeAddr string) *Agency {
	key, nodeKey := Key(id), Key(id+"/node")
	s, err := ledger.NewSigner(id, key)
	if err != nil {
		panic(err)
	}
	urn := binary.BigEndian.Uint32(key.Public().(ed25519.PublicKey)[:4])%900000 + 100000
	rec := ledger.AgencyRecord{
		ID: id, URN: fmt.Sprintf("SC%d", urn), Name: "Test agency " + id, Kind: kind, Nation: "england", London: london,
		PublicKey: ledger.EncodePublicKey(key.Public().(ed25519.PublicKey)),
	}
	if nodeAddr != "" {
		rec.Nodes = []ledger.Node{{ID: id + "-node", PublicKey: ledger.EncodePublicKey(nodeKey.Public().(ed25519.PublicKey)), Address: nodeAddr}}
	}
	return &Agency{Record: rec, Key: key, NodeKey: nodeKey, Signer: s}
}

// NewFederation makes n RAA founders named a1..an (no nodes) and signs the genesis.
func NewFederation(n int) *Federation {
	var ags []*Agency
	for i := 1; i <= n; i++ {
		ags = append(ags, NewAgency(fmt.Sprintf("a%d", i), ledger.KindRAA, false, ""))
	}
	return Found(ags, ledger.DefaultPolicy())
}

// Found signs a genesis for the given agencies, every founder in turn.
func Found(ags []*Agency, pol ledger.Policy) *Federation {
	return FoundGenesis(ags, ledger.Genesis{Policy: pol})
}

// FoundGenesis signs a genesis g for the given agencies, every founder in
// turn. Zero fields of g get the defaults Found uses (version, federation
// "test", GenesisTimeMs, DefaultPolicy); g.Agencies is replaced by ags.
// Tests use it for another genesis time or a fee schedule (g.Fees).
func FoundGenesis(ags []*Agency, g ledger.Genesis) *Federation {
	if g.V == 0 {
		g.V = ledger.GenesisVersion
	}
	if g.Federation == "" {
		g.Federation = "test"
	}
	if g.TimeMs == 0 {
		g.TimeMs = GenesisTimeMs
	}
	if g.Policy == (ledger.Policy{}) {
		g.Policy = ledger.DefaultPolicy()
	}
	g.Agencies = nil
	for _, a := range ags {
		g.Agencies = append(g.Agencies, a.Record)
	}
	doc, err := ledger.NewGenesisDocument(g)
	if err != nil {
		panic(err)
	}
	for _, a := range ags {
		if doc, err = ledger.CosignGenesis(doc, a.Signer); err != nil {
			panic(err)
		}
	}
	return &Federation{Agencies: ags, Genesis: doc}
}

// Sign builds and signs a command of agency a.
func (a *Agency) Sign(typ, id string, payload any) []byte {
	c, err := ledger.NewCommand(typ, id, "user-1", payload)
	if err != nil {
		panic(err)
	}
	b, err := a.Signer.SignCommand(c)
	if err != nil {
		panic(err)
	}
	return b
}

// Envelope wraps a signed command at ledger time t.
func Envelope(t int64, jws []byte) ledger.Entry {
	return ledger.Entry{Data: ledger.EncodeEnvelope(t, jws)}
}

// Attrs returns valid listing attributes for tests.
func Attrs() ledger.ListingAttrs {
	return ledger.ListingAttrs{
		ApprovalDate: "2026-01-15", ChildrenMax: 2, SiblingGroupOK: true, AgeMinYears: 0, AgeMaxYears: 6,
		Needs:  ledger.Needs{TraumaAttachment: ledger.LevelMedium, MedicalNeeds: ledger.LevelLow},
		Region: "north_west", LocalAuthority: "E08000003", TravelBand: "regional",
		EthnicityOpenness: ledger.LevelHigh, ReligionOpenness: ledger.LevelMedium, LanguageOpenness: ledger.LevelLow,
	}
}

// Token returns a deterministic opaque token for a label (22 alphanumerics from a hash).
func Token(label string) string {
	sum := sha256.Sum256([]byte("raaft-test-token:" + label))
	// alphanumerics only, like the node's token generator: separators are
	// what the postcode and date heuristics key on
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 22)
	for i := range out {
		out[i] = alphabet[sum[i]%62]
	}
	// keep it clear of the personal-data heuristics: mix in a fixed digit-letter tail
	out[20], out[21] = '7', 'q'
	return string(out)
}
