package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CommandVersion is the only command schema version this ledger accepts.
const CommandVersion = 1

// Command types. The set is closed: a command of any other type is rejected.
const (
	TypeRotateKey    = "agency.rotate_key"
	TypeRegisterNode = "agency.register_node"
	TypeRemoveNode   = "agency.remove_node"
	TypePropose      = "governance.propose"
	TypeApprove      = "governance.approve"
	TypePublish      = "listing.publish"
	TypeUpdate       = "listing.update"
	TypePause        = "listing.pause"
	TypeResume       = "listing.resume"
	TypeWithdraw     = "listing.withdraw"
	TypeReserve      = "reservation.reserve"
	TypeExtend       = "reservation.extend"
	TypeRelease      = "reservation.release"
	TypeExpire       = "reservation.expire"
	TypeConfirm      = "reservation.confirm"
	TypePlace        = "reservation.place"
)

// Command is what an agency signs: who acts, what, and an idempotency id.
// The acting user is an opaque, agency-scoped pseudonym, never a name or email.
type Command struct {
	V       int             `json:"v"`
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Agency  string          `json:"agency"`
	User    string          `json:"user"`
	Payload json.RawMessage `json:"payload"`
}

// Payloads, one per command type. Every field is a closed enumeration, a
// bounded integer, an opaque token or a date; there is no free text.

// RotateKeyPayload replaces the agency's signing key; it is signed with the old key.
type RotateKeyPayload struct {
	PublicKey string `json:"public_key"` // base64url raw Ed25519
}

// RegisterNodePayload registers (or re-addresses) one of the agency's own nodes.
type RegisterNodePayload struct {
	Node Node `json:"node"`
}

// RemoveNodePayload removes one of the agency's own nodes.
type RemoveNodePayload struct {
	NodeID string `json:"node_id"`
}

// Governance actions.
const (
	ActionAddAgency    = "add_agency"
	ActionRemoveAgency = "remove_agency"
	ActionChangePolicy = "change_policy"
	ActionRevokeKey    = "revoke_key"
)

// ProposePayload opens a governance proposal; the proposer's approval is implied.
type ProposePayload struct {
	Action   string        `json:"action"`
	Agency   *AgencyRecord `json:"agency,omitempty"`    // add_agency
	AgencyID string        `json:"agency_id,omitempty"` // remove_agency, revoke_key
	KID      string        `json:"kid,omitempty"`       // revoke_key
	Policy   *Policy       `json:"policy,omitempty"`    // change_policy
	Fees     *FeeSchedule  `json:"fees,omitempty"`      // set_fee_schedule
}

// ApprovePayload approves an open proposal.
type ApprovePayload struct {
	ProposalID uint64 `json:"proposal_id"`
}

// ListingPayload publishes or updates a listing.
type ListingPayload struct {
	Token string       `json:"token"`
	Attrs ListingAttrs `json:"attrs"`
}

// TokenPayload names a listing by its token.
type TokenPayload struct {
	Token string `json:"token"`
}

// ReservePayload asks for an exclusive hold on a listing.
type ReservePayload struct {
	Listing     string   `json:"listing"`
	ChildTokens []string `json:"child_tokens"`
	Flags       []string `json:"harder_to_place,omitempty"`
	HoldDays    int      `json:"hold_days,omitempty"` // 0 = policy default
}

// ReservationPayload names a reservation (extend, expire, confirm).
type ReservationPayload struct {
	ReservationID uint64 `json:"reservation_id"`
}

// ReleasePayload ends a hold early.
type ReleasePayload struct {
	ReservationID uint64 `json:"reservation_id"`
	Reason        string `json:"reason,omitempty"`
}

// PlacePayload records that the child moved in.
type PlacePayload struct {
	ReservationID uint64 `json:"reservation_id"`
	MoveInDate    string `json:"move_in_date"`
}

// newPayload returns a fresh payload value for a command type, or nil for an unknown type.
func newPayload(typ string) any {
	switch typ {
	case TypeRotateKey:
		return &RotateKeyPayload{}
	case TypeRegisterNode:
		return &RegisterNodePayload{}
	case TypeRemoveNode:
		return &RemoveNodePayload{}
	case TypePropose:
		return &ProposePayload{}
	case TypeApprove:
		return &ApprovePayload{}
	case TypePublish, TypeUpdate:
		return &ListingPayload{}
	case TypePause, TypeResume, TypeWithdraw:
		return &TokenPayload{}
	case TypeReserve:
		return &ReservePayload{}
	case TypeExtend, TypeExpire, TypeConfirm:
		return &ReservationPayload{}
	case TypeRelease:
		return &ReleasePayload{}
	case TypePlace:
		return &PlacePayload{}
	}
	return newFeePayload(typ)
}

// CommandTypes lists every command type, for documentation and tests.
var CommandTypes = []string{
	TypeRotateKey, TypeRegisterNode, TypeRemoveNode, TypePropose, TypeApprove,
	TypePublish, TypeUpdate, TypePause, TypeResume, TypeWithdraw,
	TypeReserve, TypeExtend, TypeRelease, TypeExpire, TypeConfirm, TypePlace,
	TypeInvoice, TypeAcknowledge, TypeDispute, TypeProposeResolution, TypeAcceptResolution,
	TypeRecordPayment, TypeConfirmReceipt, TypeRequestWriteOff, TypeAgreeWriteOff,
	TypeNettingOpen, TypeNettingPay, TypeNettingConfirm,
}

// DecodeCommand parses and validates command bytes against the closed
// schema: unknown fields, unknown types, oversize input and trailing data
// are rejected. It returns the command and its decoded payload.
func DecodeCommand(b []byte) (*Command, any, *Rejection) {
	if len(b) > commandBytesMax {
		return nil, nil, reject(CodeInvalid, "command is %d bytes; at most %d", len(b), commandBytesMax)
	}
	if c, p, ok := decodeFast(b); ok {
		if r := c.validateHeader(); r != nil {
			return nil, nil, r
		}
		if r := validatePayload(p); r != nil {
			return nil, nil, r
		}
		return c, p, nil
	}
	var c Command
	if err := strictUnmarshal(b, &c); err != nil {
		return nil, nil, reject(CodeInvalid, "command: %s", jsonErr(err))
	}
	if r := c.validateHeader(); r != nil {
		return nil, nil, r
	}
	p := newPayload(c.Type)
	if len(c.Payload) == 0 {
		return nil, nil, reject(CodeInvalid, "payload: missing")
	}
	if err := strictUnmarshal(c.Payload, p); err != nil {
		var rj *Rejection
		if errors.As(err, &rj) {
			return nil, nil, rj
		}
		return nil, nil, reject(CodeInvalid, "payload: %s", jsonErr(err))
	}
	if r := validatePayload(p); r != nil {
		return nil, nil, r
	}
	return &c, p, nil
}

func (c *Command) validateHeader() *Rejection {
	switch {
	case c.V != CommandVersion:
		return reject(CodeInvalid, "v: %d is not a supported command version (expected %d)", c.V, CommandVersion)
	case newPayload(c.Type) == nil:
		return reject(CodeInvalid, "type: %q is not a command type", truncate(c.Type))
	case !idemRe.MatchString(c.ID):
		return reject(CodeInvalid, "id: %q: expected 8-64 characters of A-Z a-z 0-9 _ -", truncate(c.ID))
	case !slugRe.MatchString(c.Agency):
		return reject(CodeInvalid, "agency: %q is not an agency id", truncate(c.Agency))
	case !userRe.MatchString(c.User):
		return reject(CodeInvalid, "user: %q: expected an opaque id of 1-64 characters of A-Z a-z 0-9 _ -", truncate(c.User))
	}
	return nil
}

// strictUnmarshal decodes exactly one JSON value, rejecting unknown fields and trailing data.
func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// jsonErr turns a decoding error into a message naming the field where possible.
func jsonErr(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + te.Field + ": expected " + te.Type.String()
	}
	s := err.Error()
	s = strings.TrimPrefix(s, "json: ")
	return truncate2(s, 200)
}

func truncate2(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func validatePayload(p any) *Rejection {
	switch p := p.(type) {
	case *RotateKeyPayload:
		if _, err := decodePublicKey(p.PublicKey); err != nil {
			return reject(CodeInvalid, "public_key: %v", err)
		}
	case *RegisterNodePayload:
		return p.Node.validate("node")
	case *RemoveNodePayload:
		if !slugRe.MatchString(p.NodeID) {
			return reject(CodeInvalid, "node_id: %q is not a node id", truncate(p.NodeID))
		}
	case *ProposePayload:
		return p.validate()
	case *ApprovePayload:
		if p.ProposalID == 0 {
			return reject(CodeInvalid, "proposal_id: missing")
		}
	case *ListingPayload:
		if r := checkToken("token", p.Token); r != nil {
			return r
		}
		return p.Attrs.validate()
	case *TokenPayload:
		return checkToken("token", p.Token)
	case *ReservePayload:
		return p.validate()
	case *ReservationPayload:
		if p.ReservationID == 0 {
			return reject(CodeInvalid, "reservation_id: missing")
		}
	case *ReleasePayload:
		if p.ReservationID == 0 {
			return reject(CodeInvalid, "reservation_id: missing")
		}
		if p.Reason != "" && !slices.Contains(OwnerReleaseReasons, p.Reason) && !slices.Contains(HolderReleaseReasons, p.Reason) {
			return reject(CodeInvalid, "reason: %q: expected one of %s or %s", truncate(p.Reason), strings.Join(HolderReleaseReasons, ", "), strings.Join(OwnerReleaseReasons, ", "))
		}
	case *PlacePayload:
		if p.ReservationID == 0 {
			return reject(CodeInvalid, "reservation_id: missing")
		}
		if _, err := parseDate(p.MoveInDate); err != nil {
			return reject(CodeInvalid, "move_in_date: %q: %v", truncate(p.MoveInDate), err)
		}
	default:
		return validateFeePayload(p)
	}
	return nil
}

func (p *ReservePayload) validate() *Rejection {
	if r := checkToken("listing", p.Listing); r != nil {
		return r
	}
	if len(p.ChildTokens) < 1 || len(p.ChildTokens) > childrenMax {
		return reject(CodeInvalid, "child_tokens: %d tokens; expected 1..%d (one per child)", len(p.ChildTokens), childrenMax)
	}
	for i, t := range p.ChildTokens {
		if r := checkToken("child_tokens["+strconv.Itoa(i)+"]", t); r != nil {
			return r
		}
		if slices.Contains(p.ChildTokens[:i], t) {
			return reject(CodeInvalid, "child_tokens[%d]: duplicate token", i)
		}
	}
	if len(p.Flags) > len(HarderToPlaceFlags) {
		return reject(CodeInvalid, "harder_to_place: %d flags; at most %d", len(p.Flags), len(HarderToPlaceFlags))
	}
	for i, f := range p.Flags {
		if !slices.Contains(HarderToPlaceFlags, f) {
			return reject(CodeInvalid, "harder_to_place[%d]: %q: expected one of %s", i, truncate(f), strings.Join(HarderToPlaceFlags, ", "))
		}
		if slices.Contains(p.Flags[:i], f) {
			return reject(CodeInvalid, "harder_to_place[%d]: duplicate flag %q", i, f)
		}
	}
	if p.HoldDays < 0 || p.HoldDays > 90 {
		return reject(CodeInvalid, "hold_days: %d: expected 0 (policy default) or 1..90", p.HoldDays)
	}
	return nil
}

func (a *ListingAttrs) validate() *Rejection {
	if _, err := parseDate(a.ApprovalDate); err != nil {
		return reject(CodeInvalid, "attrs.approval_date: %q: %v", truncate(a.ApprovalDate), err)
	}
	switch {
	case a.ChildrenMax < 1 || a.ChildrenMax > childrenMax:
		return reject(CodeInvalid, "attrs.children_max: %d: expected 1..%d", a.ChildrenMax, childrenMax)
	case a.ChildrenMax > 1 && !a.SiblingGroupOK:
		return reject(CodeInvalid, "attrs.children_max: %d needs sibling_group_ok true", a.ChildrenMax)
	case a.AgeMinYears < 0 || a.AgeMinYears > childAgeYearsMax:
		return reject(CodeInvalid, "attrs.age_min_years: %d: expected 0..%d", a.AgeMinYears, childAgeYearsMax)
	case a.AgeMaxYears < a.AgeMinYears || a.AgeMaxYears > childAgeYearsMax:
		return reject(CodeInvalid, "attrs.age_max_years: %d: expected age_min_years (%d)..%d", a.AgeMaxYears, a.AgeMinYears, childAgeYearsMax)
	case !slices.Contains(Regions, a.Region):
		return reject(CodeInvalid, "attrs.region: %q: expected one of %s", truncate(a.Region), strings.Join(Regions, ", "))
	case !gssRe.MatchString(a.LocalAuthority):
		return reject(CodeInvalid, "attrs.local_authority: %q: expected a GSS code such as E08000003", truncate(a.LocalAuthority))
	case !slices.Contains(TravelBands, a.TravelBand):
		return reject(CodeInvalid, "attrs.travel_band: %q: expected one of %s", truncate(a.TravelBand), strings.Join(TravelBands, ", "))
	}
	for i, l := range a.Needs.Levels() {
		if l >= levelCount {
			return reject(CodeInvalid, "attrs.needs.%s: invalid level", NeedCategories[i])
		}
	}
	return nil
}

func (n *Node) validate(field string) *Rejection {
	switch {
	case !slugRe.MatchString(n.ID):
		return reject(CodeInvalid, "%s.id: %q is not a node id", field, truncate(n.ID))
	case !addressRe.MatchString(n.Address):
		return reject(CodeInvalid, "%s.address: %q: expected host:port", field, truncate(n.Address))
	}
	if _, err := decodePublicKey(n.PublicKey); err != nil {
		return reject(CodeInvalid, "%s.public_key: %v", field, err)
	}
	return nil
}

// parseDate parses a calendar date YYYY-MM-DD between 2000 and 2199.
func parseDate(s string) (time.Time, error) {
	if !dateRe.MatchString(s) {
		return time.Time{}, errors.New("expected a date YYYY-MM-DD")
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, errors.New("not a calendar date")
	}
	if t.Year() < 2000 || t.Year() > 2199 {
		return time.Time{}, errors.New("year out of range 2000..2199")
	}
	return t, nil
}
