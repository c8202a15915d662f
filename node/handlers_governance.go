package node

import (
	"net/http"

	"github.com/raaft/raaft/ledger"
)

// Governance and the agency's own node registry, for operators (RAA IT
// teams): admitting or removing an agency, changing policy or the fee
// schedule, revoking a key (each a proposal that takes effect once more
// than half of the active agencies approve), and registering this
// agency's nodes.
func (s *Server) registerGovernanceRoutes() {
	op := []string{RoleOperator}
	anyRole := []string{RoleMatching, RoleOperator, RoleAuditor, RoleFinance}
	s.handle(Route{Method: "POST", Pattern: "/v1/governance/proposals", OperationID: "propose", Roles: op}, s.proposeChange)
	s.handle(Route{Method: "GET", Pattern: "/v1/governance/proposals/{id}", OperationID: "getProposal", Roles: anyRole}, s.proposal)
	s.handle(Route{Method: "POST", Pattern: "/v1/governance/proposals/{id}/approve", OperationID: "approveProposal", Roles: op}, s.approve)
	s.handle(Route{Method: "POST", Pattern: "/v1/agency/nodes", OperationID: "registerNode", Roles: op}, s.registerNode)
	s.handle(Route{Method: "POST", Pattern: "/v1/agency/nodes/{node}/remove", OperationID: "removeNode", Roles: op}, s.removeNode)
	s.handle(Route{Method: "POST", Pattern: "/v1/agency/rotate-key", OperationID: "rotateAgencyKey", Roles: op}, s.rotateKey)
}

func (s *Server) proposeChange(r *http.Request, p Principal) (int, any, error) {
	var b ledger.ProposePayload
	if err := decodeBody(r, &b); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypePropose, b)
}

func (s *Server) proposal(r *http.Request, _ Principal) (int, any, error) {
	id, err := pathUint(r, "id")
	if err != nil {
		return 0, nil, err
	}
	pr, err := s.cfg.Ledger.Proposal(id)
	return http.StatusOK, pr, err
}

func (s *Server) approve(r *http.Request, p Principal) (int, any, error) {
	id, err := pathUint(r, "id")
	if err != nil {
		return 0, nil, err
	}
	if err := emptyBody(r); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: id})
}

func (s *Server) registerNode(r *http.Request, p Principal) (int, any, error) {
	var n ledger.Node
	if err := decodeBody(r, &n); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypeRegisterNode, ledger.RegisterNodePayload{Node: n})
}

func (s *Server) removeNode(r *http.Request, p Principal) (int, any, error) {
	if err := emptyBody(r); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypeRemoveNode, ledger.RemoveNodePayload{NodeID: r.PathValue("node")})
}
