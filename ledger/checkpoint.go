package ledger

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
)

// CheckpointBody is what an agency signs for a checkpoint: its ledger's
// head at one size. Every node signs the JSON encoding of this struct as
// a compact JWS with its agency key; a checkpoint that more than half of
// the active agencies signed is what an auditor trusts.
type CheckpointBody struct {
	Genesis   Hash   `json:"genesis"`
	Size      uint64 `json:"size"`
	Root      Hash   `json:"root"`
	StateHash Hash   `json:"state_hash"`
}

// Encode is the signed bytes.
func (b CheckpointBody) Encode() []byte {
	raw, _ := json.Marshal(b) // a struct of hashes and an integer: cannot fail
	return raw
}

// CheckpointClaim is a checkpoint as an auditor holds it: a head and the
// agencies' signatures over it.
type CheckpointClaim struct {
	CheckpointBody
	Signatures []CheckpointSig
}

// CheckpointSig is one agency's compact JWS over a CheckpointBody.
type CheckpointSig struct {
	Agency string
	JWS    string
}

// CheckCheckpoint checks a checkpoint against this ledger, for an
// auditor: the genesis is this ledger's; the ledger holds the size (a
// shorter ledger is behind the checkpoint, or was rolled back); its root
// and state hash at that size are the checkpoint's; and more than half of
// the agencies active now signed exactly this body, each signature
// checked with crypto/ed25519 against a key the registry holds for the
// signing agency (not the apply path's verifier).
func (l *Ledger) CheckCheckpoint(c CheckpointClaim) error {
	g, err := l.GenesisHash()
	if err != nil {
		return err
	}
	head, err := l.Head()
	if err != nil {
		return err
	}
	switch {
	case c.Genesis != g:
		return fmt.Errorf("checkpoint at size %d is of another federation: genesis %s, this ledger's %s", c.Size, c.Genesis, g)
	case c.Size == 0 || c.Size > head.Size:
		return fmt.Errorf("checkpoint at size %d: this ledger has %d entries (it is behind the checkpoint, or was rolled back)", c.Size, head.Size)
	}
	root, err := l.RootAt(c.Size)
	if err != nil {
		return err
	}
	state, err := l.StateHashAt(c.Size)
	if err != nil {
		return err
	}
	if root != c.Root || state != c.StateHash {
		return fmt.Errorf("checkpoint at size %d: this ledger has root %s state hash %s; the checkpoint says root %s state hash %s", c.Size, root, state, c.Root, c.StateHash)
	}
	return l.checkCheckpointSigs(c)
}

func (l *Ledger) checkCheckpointSigs(c CheckpointClaim) error {
	ags, err := l.Agencies()
	if err != nil {
		return err
	}
	active := 0
	keys := map[string]map[string]ed25519.PublicKey{} // agency -> kid -> key
	for _, a := range ags {
		if a.Status == "active" {
			active++
		}
		keys[a.ID] = map[string]ed25519.PublicKey{}
		for _, k := range a.Keys {
			if pub, err := decodePublicKey(k.PublicKey); err == nil {
				keys[a.ID][k.KID] = pub
			}
		}
	}
	want := string(c.Encode())
	signed := map[string]bool{}
	for _, s := range c.Signatures {
		payload, err := verifyCompactPayloadStdlib([]byte(s.JWS), keys[s.Agency])
		if err != nil {
			return fmt.Errorf("checkpoint at size %d: signature of %s: %w", c.Size, s.Agency, err)
		}
		if string(payload) != want {
			return fmt.Errorf("checkpoint at size %d: %s signed %s, not this checkpoint", c.Size, s.Agency, payload)
		}
		signed[s.Agency] = true
	}
	if len(signed)*2 <= active {
		return fmt.Errorf("checkpoint at size %d: signed by %d agencies; more than half of the %d active ones must sign", c.Size, len(signed), active)
	}
	return nil
}
