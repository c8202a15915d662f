package ledger

import (
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Proposal is a governance change waiting for a quorum of approvals.
type Proposal struct {
	ID           uint64        `json:"id"`
	Action       string        `json:"action"`
	Agency       *AgencyRecord `json:"agency,omitempty"`
	AgencyID     string        `json:"agency_id,omitempty"`
	KID          string        `json:"kid,omitempty"`
	Policy       *Policy       `json:"policy,omitempty"`
	Fees         *FeeSchedule  `json:"fees,omitempty"`
	Proposer     string        `json:"proposer"`
	Approvals    []string      `json:"approvals"` // agency ids, in log order
	Status       string        `json:"status"`    // open | effective | expired
	CreatedMs    int64         `json:"created_ms"`
	ExpiresMs    int64         `json:"expires_ms"`
	EffectiveSeq uint64        `json:"effective_seq,omitempty"`
}

func (p *ProposePayload) validate() *Rejection {
	switch {
	case p.Fees == nil && p.Action == ActionSetFeeSchedule:
		return reject(CodeInvalid, "fees: missing; set_fee_schedule takes exactly: fees")
	case p.Fees != nil && p.Action != ActionSetFeeSchedule:
		return reject(CodeInvalid, "fees: given with action %q; only set_fee_schedule takes fees", truncate(p.Action))
	}
	switch p.Action {
	case ActionAddAgency:
		if p.Agency == nil || p.AgencyID != "" || p.Policy != nil || p.KID != "" {
			return reject(CodeInvalid, "add_agency takes exactly: agency")
		}
		return p.Agency.validate("agency")
	case ActionRemoveAgency:
		if !slugRe.MatchString(p.AgencyID) || p.Agency != nil || p.Policy != nil || p.KID != "" {
			return reject(CodeInvalid, "remove_agency takes exactly: agency_id")
		}
	case ActionRevokeKey:
		if !slugRe.MatchString(p.AgencyID) || p.KID == "" || len(p.KID) > 64 || p.Agency != nil || p.Policy != nil {
			return reject(CodeInvalid, "revoke_key takes exactly: agency_id, kid")
		}
	case ActionChangePolicy:
		if p.Policy == nil || p.Agency != nil || p.AgencyID != "" || p.KID != "" {
			return reject(CodeInvalid, "change_policy takes exactly: policy")
		}
		return p.Policy.validate()
	case ActionSetFeeSchedule:
		if p.Agency != nil || p.AgencyID != "" || p.KID != "" || p.Policy != nil {
			return reject(CodeInvalid, "set_fee_schedule takes exactly: fees")
		}
		return p.Fees.validate("fees")
	default:
		return reject(CodeInvalid, "action: %q: expected add_agency, remove_agency, revoke_key, change_policy or set_fee_schedule", truncate(p.Action))
	}
	return nil
}

func (a *applier) dispatch(c *cmdCtx, p any) (*Rejection, error) {
	switch p := p.(type) {
	case *RotateKeyPayload:
		return a.rotateKey(c, p)
	case *RegisterNodePayload:
		return a.registerNode(c, p)
	case *RemoveNodePayload:
		return a.removeNode(c, p)
	case *ProposePayload:
		return a.propose(c, p)
	case *ApprovePayload:
		return a.approve(c, p)
	case *ListingPayload:
		if c.cmd.Type == TypePublish {
			return a.publish(c, p)
		}
		return a.update(c, p)
	case *TokenPayload:
		return a.listingStatus(c, p)
	case *ReservePayload:
		return a.reserve(c, p)
	case *ReservationPayload:
		switch c.cmd.Type {
		case TypeExtend:
			return a.extend(c, p)
		case TypeExpire:
			return a.expire(c, p)
		default:
			return a.confirm(c, p)
		}
	case *ReleasePayload:
		return a.release(c, p)
	case *PlacePayload:
		return a.place(c, p)
	}
	return a.dispatchFee(c, p)
}

// rotateKey replaces the agency's active key. It is signed with the old
// key (authorise checked that), so only the key holder can rotate.
func (a *applier) rotateKey(c *cmdCtx, p *RotateKeyPayload) (*Rejection, error) {
	pub, _ := decodePublicKey(p.PublicKey)
	kid, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	if a.tx.Bucket(bKids).Get([]byte(kid)) != nil {
		return reject(CodeConflict, "key %s is already registered; a rotation needs a new key", kid), nil
	}
	ag := c.agent
	for i := range ag.Keys {
		ag.Keys[i].Active = false
	}
	ag.Keys = append(ag.Keys, AgencyKey{KID: kid, PublicKey: p.PublicKey, Active: true})
	return nil, a.putAgency(ag)
}

func (a *applier) registerNode(c *cmdCtx, p *RegisterNodePayload) (*Rejection, error) {
	ag := c.agent
	if owner := a.tx.Bucket(bNodeKeys).Get([]byte(p.Node.PublicKey)); owner != nil && string(owner) != ag.ID+"\x00"+p.Node.ID {
		return reject(CodeConflict, "node key is already registered to another node"), nil
	}
	i := slices.IndexFunc(ag.Nodes, func(n Node) bool { return n.ID == p.Node.ID })
	if i < 0 {
		if a.nodeIDTaken(p.Node.ID) {
			return reject(CodeConflict, "node id %q is taken", p.Node.ID), nil
		}
		if len(ag.Nodes) >= agencyNodesMax {
			return reject(CodeConflict, "agency %s has %d nodes; at most %d", ag.ID, len(ag.Nodes), agencyNodesMax), nil
		}
		ag.Nodes = append(ag.Nodes, p.Node)
	} else {
		if err := a.del(bNodeKeys, []byte(ag.Nodes[i].PublicKey)); err != nil {
			return nil, err
		}
		ag.Nodes[i] = p.Node
	}
	return nil, a.putAgency(ag)
}

func (a *applier) nodeIDTaken(id string) bool {
	c := a.tx.Bucket(bNodeKeys).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if i := slices.Index(v, 0); i >= 0 && string(v[i+1:]) == id {
			return true
		}
	}
	return false
}

func (a *applier) removeNode(c *cmdCtx, p *RemoveNodePayload) (*Rejection, error) {
	ag := c.agent
	i := slices.IndexFunc(ag.Nodes, func(n Node) bool { return n.ID == p.NodeID })
	if i < 0 {
		return reject(CodeNotFound, "agency %s has no node %q", ag.ID, p.NodeID), nil
	}
	if err := a.del(bNodeKeys, []byte(ag.Nodes[i].PublicKey)); err != nil {
		return nil, err
	}
	ag.Nodes = slices.Delete(ag.Nodes, i, i+1)
	return nil, a.putAgency(ag)
}

func (a *applier) propose(c *cmdCtx, p *ProposePayload) (*Rejection, error) {
	if rj, err := a.checkProposal(p); rj != nil || err != nil {
		return rj, err
	}
	pol, err := a.policy()
	if err != nil {
		return nil, err
	}
	pr := &Proposal{
		ID: c.seq, Action: p.Action, Agency: p.Agency, AgencyID: p.AgencyID, KID: p.KID, Policy: p.Policy, Fees: p.Fees,
		Proposer: c.cmd.Agency, Approvals: []string{c.cmd.Agency}, Status: "open",
		CreatedMs: c.now, ExpiresMs: c.now + int64(pol.ProposalDays)*dayMs,
	}
	return a.settleProposal(c, pr)
}

// checkProposal checks a proposal against the current registry.
func (a *applier) checkProposal(p *ProposePayload) (*Rejection, error) {
	switch p.Action {
	case ActionAddAgency:
		if ag, err := a.agency(p.Agency.ID); err != nil || ag != nil {
			return reject(CodeConflict, "agency %q already exists", p.Agency.ID), err
		}
		pub, _ := decodePublicKey(p.Agency.PublicKey)
		kid, err := KeyID(pub)
		if err != nil {
			return nil, err
		}
		if a.tx.Bucket(bKids).Get([]byte(kid)) != nil {
			return reject(CodeConflict, "agency key %s is already registered", kid), nil
		}
		for _, n := range p.Agency.Nodes {
			if a.tx.Bucket(bNodeKeys).Get([]byte(n.PublicKey)) != nil || a.nodeIDTaken(n.ID) {
				return reject(CodeConflict, "node %q or its key is already registered", n.ID), nil
			}
		}
	case ActionRemoveAgency, ActionRevokeKey:
		ag, err := a.agency(p.AgencyID)
		if err != nil || ag == nil || ag.Status != "active" {
			return reject(CodeNotFound, "no active agency %q", p.AgencyID), err
		}
		if p.Action == ActionRevokeKey && !slices.ContainsFunc(ag.Keys, func(k AgencyKey) bool { return k.KID == p.KID && k.Active }) {
			return reject(CodeNotFound, "agency %s has no active key %s", p.AgencyID, p.KID), nil
		}
	}
	return nil, nil
}

func (a *applier) approve(c *cmdCtx, p *ApprovePayload) (*Rejection, error) {
	var pr Proposal
	ok, err := getJSON(a.tx.Bucket(bProposals), u64(p.ProposalID), &pr)
	if err != nil || !ok {
		return reject(CodeNotFound, "no proposal %d", p.ProposalID), err
	}
	switch {
	case pr.Status != "open":
		return reject(CodeConflict, "proposal %d is %s", pr.ID, pr.Status), nil
	case c.now >= pr.ExpiresMs:
		return reject(CodeConflict, "proposal %d expired at %d", pr.ID, pr.ExpiresMs), nil
	case slices.Contains(pr.Approvals, c.cmd.Agency):
		return reject(CodeConflict, "agency %s already approved proposal %d", c.cmd.Agency, pr.ID), nil
	}
	pr.Approvals = append(pr.Approvals, c.cmd.Agency)
	return a.settleProposal(c, &pr)
}

// settleProposal stores the proposal and, once more than half of the
// active agencies have approved, applies it. The registry check is redone
// at that moment because the registry may have changed since the proposal.
func (a *applier) settleProposal(c *cmdCtx, pr *Proposal) (*Rejection, error) {
	active, approved, err := a.countApprovals(pr.Approvals)
	if err != nil {
		return nil, err
	}
	if approved*2 > active {
		pp := &ProposePayload{Action: pr.Action, Agency: pr.Agency, AgencyID: pr.AgencyID, KID: pr.KID, Policy: pr.Policy}
		if rj, err := a.checkProposal(pp); rj != nil || err != nil {
			return rj, err
		}
		if err := a.enact(pr); err != nil {
			return nil, err
		}
		pr.Status, pr.EffectiveSeq = "effective", c.seq
	}
	return nil, a.putJSONState(bProposals, u64(pr.ID), pr)
}

// countApprovals counts active agencies and how many of them approved.
func (a *applier) countApprovals(approvals []string) (active, approved int, err error) {
	err = a.tx.Bucket(bAgencies).ForEach(func(k, v []byte) error {
		var ag Agency
		if err := jsonUnmarshal(v, &ag); err != nil {
			return err
		}
		if ag.Status == "active" {
			active++
			if slices.Contains(approvals, ag.ID) {
				approved++
			}
		}
		return nil
	})
	return active, approved, err
}

func (a *applier) enact(pr *Proposal) error {
	switch pr.Action {
	case ActionAddAgency:
		ag, err := pr.Agency.agency()
		if err != nil {
			return err
		}
		return a.putAgency(ag)
	case ActionChangePolicy:
		return a.putPolicy(pr.Policy)
	case ActionSetFeeSchedule:
		return a.putFeeSchedule(pr.Fees)
	}
	ag, err := a.agency(pr.AgencyID)
	if err != nil {
		return err
	}
	if pr.Action == ActionRemoveAgency {
		ag.Status = "removed"
		for i := range ag.Keys {
			ag.Keys[i].Active = false
		}
		for _, n := range ag.Nodes {
			if err := a.del(bNodeKeys, []byte(n.PublicKey)); err != nil {
				return err
			}
		}
		ag.Nodes = nil
	} else {
		for i := range ag.Keys {
			if ag.Keys[i].KID == pr.KID {
				ag.Keys[i].Active = false
			}
		}
	}
	return a.putAgency(ag)
}

// NodeKey is a registered node key: who it belongs to.
type NodeKey struct {
	Agency string `json:"agency"`
	NodeID string `json:"node_id"`
}

// NodeByKey returns the node registered with a TLS public key (base64url raw Ed25519), or ErrNotFound.
func (l *Ledger) NodeByKey(pub string) (nk NodeKey, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bNodeKeys).Get([]byte(pub))
		i := slices.Index(v, 0)
		if v == nil || i < 0 {
			return ErrNotFound
		}
		nk = NodeKey{Agency: string(v[:i]), NodeID: string(v[i+1:])}
		return nil
	})
	return nk, err
}

// Agencies returns every agency in the registry, ordered by id.
func (l *Ledger) Agencies() (out []Agency, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bAgencies).ForEach(func(_, v []byte) error {
			var ag Agency
			if err := jsonUnmarshal(v, &ag); err != nil {
				return err
			}
			out = append(out, ag)
			return nil
		})
	})
	return out, err
}

// Agency returns one agency, or ErrNotFound.
func (l *Ledger) Agency(id string) (ag Agency, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bAgencies), []byte(id), &ag)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	return ag, err
}

// Proposal returns one governance proposal, or ErrNotFound.
func (l *Ledger) Proposal(id uint64) (p Proposal, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bProposals), u64(id), &p)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	return p, err
}

// Policy returns the policy in force.
func (l *Ledger) Policy() (p Policy, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bMeta), kPolicy, &p)
		if err == nil && !ok {
			err = ErrNoGenesis
		}
		return err
	})
	return p, err
}
