package ledger

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// GenesisVersion is the only genesis document version accepted.
const GenesisVersion = 1

// Genesis founds a federation: its agencies, their keys and nodes, and the
// first policy. It is valid only when every founder has signed it; each
// signature is checked on its own (a multi-signature JWS that verifies with
// one key proves nothing about the others).
type Genesis struct {
	V          int            `json:"v"`
	Federation string         `json:"federation"` // slug naming the federation
	TimeMs     int64          `json:"time_ms"`    // ledger time at genesis, ms since the Unix epoch
	Agencies   []AgencyRecord `json:"agencies"`
	Policy     Policy         `json:"policy"`
	// Fees is the first interagency fee schedule; absent means DefaultFeeSchedule.
	Fees *FeeSchedule `json:"fees,omitempty"`
}

// feeSchedule returns the genesis fee schedule, or the default when it names none.
func (g *Genesis) feeSchedule() FeeSchedule {
	if g.Fees == nil {
		return DefaultFeeSchedule()
	}
	return *g.Fees
}

// AgencyRecord is how an agency is described in a genesis or an add_agency proposal.
type AgencyRecord struct {
	ID        string     `json:"id"`
	URN       string     `json:"urn"`
	Name      string     `json:"name"`
	Kind      AgencyKind `json:"kind"`
	Nation    string     `json:"nation"`
	London    bool       `json:"london"`
	RAA       string     `json:"raa,omitempty"`
	Councils  []string   `json:"councils,omitempty"`
	PublicKey string     `json:"public_key"` // agency signing key, base64url raw Ed25519
	Nodes     []Node     `json:"nodes"`
}

func (a *AgencyRecord) validate(field string) *Rejection {
	switch {
	case !slugRe.MatchString(a.ID):
		return reject(CodeInvalid, "%s.id: %q: expected a slug of a-z 0-9 -", field, truncate(a.ID))
	case !urnRe.MatchString(a.URN):
		return reject(CodeInvalid, "%s.urn: %q: expected an Ofsted URN such as SC123456", field, truncate(a.URN))
	case !agNameRe.MatchString(a.Name):
		return reject(CodeInvalid, "%s.name: expected 2-100 characters of letters, digits and & ' ( ) , . @ -", field)
	case a.Kind != KindRAA && a.Kind != KindVAA && a.Kind != KindLA:
		return reject(CodeInvalid, "%s.kind: %q: expected RAA, VAA or LA", field, truncate(string(a.Kind)))
	case !slices.Contains(nations, a.Nation):
		return reject(CodeInvalid, "%s.nation: %q: expected one of %s", field, truncate(a.Nation), strings.Join(nations, ", "))
	case a.RAA != "" && (a.Kind != KindLA || !slugRe.MatchString(a.RAA)):
		return reject(CodeInvalid, "%s.raa: only an LA names the RAA it belongs to, by agency id", field)
	case len(a.Councils) > councilsMax || (len(a.Councils) > 0 && a.Kind != KindRAA):
		return reject(CodeInvalid, "%s.councils: only an RAA lists member councils, at most %d", field, councilsMax)
	case len(a.Nodes) > agencyNodesMax:
		return reject(CodeInvalid, "%s.nodes: %d nodes; at most %d", field, len(a.Nodes), agencyNodesMax)
	}
	for i, c := range a.Councils {
		if !gssRe.MatchString(c) {
			return reject(CodeInvalid, "%s.councils[%d]: %q: expected a GSS code", field, i, truncate(c))
		}
	}
	if _, err := decodePublicKey(a.PublicKey); err != nil {
		return reject(CodeInvalid, "%s.public_key: %v", field, err)
	}
	for i := range a.Nodes {
		if r := a.Nodes[i].validate(fmt.Sprintf("%s.nodes[%d]", field, i)); r != nil {
			return r
		}
	}
	return nil
}

// agency converts the record into registry state.
func (a *AgencyRecord) agency() (*Agency, error) {
	pub, err := decodePublicKey(a.PublicKey)
	if err != nil {
		return nil, err
	}
	kid, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	return &Agency{
		ID: a.ID, URN: a.URN, Name: a.Name, Kind: a.Kind, Nation: a.Nation, London: a.London,
		RAA: a.RAA, Councils: slices.Clone(a.Councils),
		Keys:   []AgencyKey{{KID: kid, PublicKey: a.PublicKey, Active: true}},
		Nodes:  slices.Clone(a.Nodes),
		Status: "active",
	}, nil
}

func (g *Genesis) validate() *Rejection {
	switch {
	case g.V != GenesisVersion:
		return reject(CodeInvalid, "genesis.v: %d: expected %d", g.V, GenesisVersion)
	case !slugRe.MatchString(g.Federation):
		return reject(CodeInvalid, "genesis.federation: %q: expected a slug", truncate(g.Federation))
	case g.TimeMs <= 0:
		return reject(CodeInvalid, "genesis.time_ms: %d: expected a positive time in ms", g.TimeMs)
	case len(g.Agencies) < 1 || len(g.Agencies) > foundersMax:
		return reject(CodeInvalid, "genesis.agencies: %d founders; expected 1..%d", len(g.Agencies), foundersMax)
	}
	if r := g.Policy.validate(); r != nil {
		return r
	}
	if g.Fees != nil {
		if r := g.Fees.validate("genesis.fees"); r != nil {
			return r
		}
	}
	ids, keys, nodes := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i := range g.Agencies {
		a := &g.Agencies[i]
		if r := a.validate(fmt.Sprintf("genesis.agencies[%d]", i)); r != nil {
			return r
		}
		if ids[a.ID] || keys[a.PublicKey] {
			return reject(CodeInvalid, "genesis.agencies[%d]: duplicate agency id or key", i)
		}
		ids[a.ID], keys[a.PublicKey] = true, true
		for _, n := range a.Nodes {
			if nodes[n.ID] || nodes["k"+n.PublicKey] {
				return reject(CodeInvalid, "genesis.agencies[%d]: node %q: duplicate node id or key", i, n.ID)
			}
			nodes[n.ID], nodes["k"+n.PublicKey] = true, true
		}
	}
	return nil
}

// jwsGeneral is the JWS JSON general serialization (RFC 7515 §7.2.1),
// restricted to protected headers: one signature object per founder.
type jwsGeneral struct {
	Payload    string         `json:"payload"`
	Signatures []jwsSignature `json:"signatures"`
}

type jwsSignature struct {
	Protected string `json:"protected"`
	Signature string `json:"signature"`
}

// NewGenesisDocument encodes g as an unsigned genesis document; founders
// add their signatures with CosignGenesis.
func NewGenesisDocument(g Genesis) ([]byte, error) {
	if r := g.validate(); r != nil {
		return nil, r
	}
	p, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	return json.Marshal(jwsGeneral{Payload: b64.EncodeToString(p), Signatures: []jwsSignature{}})
}

// CosignGenesis adds one founder's signature to a genesis document.
func CosignGenesis(doc []byte, founder *Signer) ([]byte, error) {
	var gj jwsGeneral
	if err := strictUnmarshal(doc, &gj); err != nil {
		return nil, fmt.Errorf("genesis document: %s", jsonErr(err))
	}
	payload, err := b64.DecodeString(gj.Payload)
	if err != nil {
		return nil, fmt.Errorf("genesis document: payload is not base64url")
	}
	c, err := founder.Sign(payload)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(string(c), ".")
	for _, s := range gj.Signatures {
		if j, err := parseParts([]byte(s.Protected), []byte(gj.Payload), []byte(s.Signature), nil); err == nil && j.kid == founder.KID() {
			return nil, fmt.Errorf("genesis document: already signed by key %s", founder.KID())
		}
	}
	gj.Signatures = append(gj.Signatures, jwsSignature{Protected: parts[0], Signature: parts[2]})
	return json.Marshal(gj)
}

// VerifyGenesis parses a signed genesis document and checks it: the
// payload is a valid Genesis and every founder signed it exactly once with
// the key the genesis names for it, each signature verified separately;
// no other signature is present.
func VerifyGenesis(doc []byte) (*Genesis, error) {
	if len(doc) > genesisBytesMax {
		return nil, fmt.Errorf("genesis: %d bytes; at most %d", len(doc), genesisBytesMax)
	}
	var gj jwsGeneral
	if err := strictUnmarshal(doc, &gj); err != nil {
		return nil, fmt.Errorf("genesis: %s", jsonErr(err))
	}
	payload, err := b64.DecodeString(gj.Payload)
	if err != nil {
		return nil, fmt.Errorf("genesis: payload is not base64url")
	}
	var g Genesis
	if err := strictUnmarshal(payload, &g); err != nil {
		return nil, fmt.Errorf("genesis payload: %s", jsonErr(err))
	}
	if r := g.validate(); r != nil {
		return nil, r
	}
	founders := make(map[string]ed25519.PublicKey, len(g.Agencies))
	order := make([]string, 0, len(g.Agencies))
	for _, a := range g.Agencies {
		pub, _ := decodePublicKey(a.PublicKey)
		kid, err := KeyID(pub)
		if err != nil {
			return nil, err
		}
		founders[kid] = pub
		order = append(order, a.ID)
	}
	signed := map[string]bool{}
	for i, s := range gj.Signatures {
		j, err := parseParts([]byte(s.Protected), []byte(gj.Payload), []byte(s.Signature), nil)
		if err != nil {
			return nil, fmt.Errorf("genesis: signature %d: %w", i, err)
		}
		pub, ok := founders[j.kid]
		if !ok {
			return nil, fmt.Errorf("genesis: signature %d: key %s is not a founder's", i, j.kid)
		}
		if signed[j.kid] {
			return nil, fmt.Errorf("genesis: signature %d: key %s signed twice", i, j.kid)
		}
		if err := j.verify(pub); err != nil {
			return nil, fmt.Errorf("genesis: signature %d (key %s): %w", i, j.kid, err)
		}
		signed[j.kid] = true
	}
	if len(signed) != len(founders) {
		var missing []string
		for i, a := range g.Agencies {
			pub, _ := decodePublicKey(a.PublicKey)
			kid, _ := KeyID(pub)
			if !signed[kid] {
				missing = append(missing, order[i])
			}
		}
		return nil, fmt.Errorf("genesis: not signed by every founder; missing %s", strings.Join(missing, ", "))
	}
	return &g, nil
}
