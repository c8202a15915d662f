// Package ledger is raaft's domain: the signed, append-only ledger of
// adopter listings, exclusive match reservations and interagency fees
// that every agency's node runs over the same Raft log.
//
// # Design
//
// The ledger is a deterministic state machine: a pure function of (state,
// entry). It imports no Raft, network, HTTP or configuration code and never
// reads a clock or a random source, so it can be tested, fuzzed,
// benchmarked and replayed alone (`raaft ledger verify` runs the same code
// without Raft).
//
// A command is JSON with a closed schema (DecodeCommand), signed by its
// agency as a compact JWS (EdDSA, kid = RFC 7638 thumbprint). The leader
// wraps it in an envelope carrying the leader's time (EncodeEnvelope);
// that time, made monotonic, is the only clock the rules see. ApplyBatch
// verifies all signatures of a batch in parallel (pure), then, in log
// order, authorises each command against the registry at that position,
// applies the domain rules and appends accepted commands to the hash chain
// and the RFC 6962 Merkle tree, all in one bbolt transaction together
// with the last applied Raft index, so a restart never applies an entry
// twice and never skips one. With Options.DeferSync those transactions
// commit without fsync and the Raft log is the durable record; a sync
// marker makes Open refuse (ErrUnsynced) a file that a machine crash may
// have torn (syncmark.go).
//
// Rejected commands change nothing: rules load state, decide, and write
// only on acceptance. Lazy expiry of a past-due hold is part of the
// accepted command that touched it, never a side effect of a rejection.
// Therefore a replay of only the accepted entries reproduces the state
// byte for byte (StateHash); what a replay cannot reproduce (the last
// applied Raft index, remembered rejections) lives in local buckets that
// the state hash leaves out.
//
// Idempotency: results are remembered per (agency, id). A retried command
// returns its first result and changes nothing. A command whose signature
// fails is refused without being remembered, so a forger cannot poison an
// idempotency id.
//
// Determinism rules, enforced by TestDeterminismLint: no time.Now, no
// math/rand or crypto/rand, and no range over a map unless the line says
// why order cannot matter (//det:ok).
//
// The search index is derived, in-memory state (bitmaps per attribute
// value, and the map from listing token to ordinal), rebuilt from the
// listings bucket on open and restore. Listings are stored by ordinal, not
// by their random token, so a batch of new listings appends to the bucket
// instead of rewriting a random page per listing.
//
// Pages a batch writes. A bbolt commit costs per page it rewrites: each
// bucket a batch writes costs its last leaf and the branch pages above it,
// and a key that is random (a hash, a token) dirties a page of its own.
// So everything an entry always writes is one value in one append-only
// bucket (entry.go): its record, chained hash, the Merkle tree nodes its
// leaf completes, the command's idempotency key and the listings it
// touched; the tree head has a small bucket of its own. What must be
// found by a random key — a command's idempotency id, a listing's history,
// a child's active holds — is the state cache's (cache.go): derived state
// like the search index, which also keeps every listing and the
// reservations listings hold decoded, so the rules read no JSON; and
// listings and reservations are stored in a small binary form
// (record_codec.go), so they write none either. A
// reserve or release in batches of 32 writes 0.68 pages an entry, and a
// batch of one 13 pages (BenchmarkApplyHolds); with a bucket each for
// hashes, tree, idempotency and history and random keys for the last two,
// it was 2.8 and 26. The layout is recorded as the store format
// (storeFormat); a file of another format is refused (ErrFormat).
//
// Signature verification. Command signatures are checked with
// crypto/ed25519's rules exactly (cofactorless, canonical S, R compared as
// bytes), computed with filippo.io/edwards25519's field arithmetic so that
// an agency's public key is decoded once, eight signatures share one field
// inversion, and [S]B + [k](-A) comes from tables of multiples of B and of
// each key (ed25519_fixed.go): about a third of the double-scalar
// multiplication's time. A node does not verify again the signatures its
// own signer made moments before (Ledger.TrustOwnSignatures): the others
// check them in full. Batch verification (ZIP 215, as in
// ed25519consensus) is not used: its cofactored equation accepts
// signatures whose R carries a small-order component, which crypto/ed25519
// and every auditor using it reject, and excluding those would take a
// prime-order check of every R, a scalar multiplication that costs more
// than batching saves.
//
// # Fees
//
// Schedule. The interagency fee schedule is governed data like the policy:
// Genesis.Fees (absent: DefaultFeeSchedule) and the governance action
// set_fee_schedule, which replaces it whole once a quorum approves. It has
// one entry per fee year (1 April to 31 March, named by its start year):
// amounts in pence per payee tier (vaa; la_raa) for one child and sibling
// groups of 2, 3 and 4+, the London uplift in basis points, the instalment
// plan, the intra-RAA rule and the VAT treatment. Example:
//
//	{"years":[{"year":2025,
//	  "vaa":{"one_child_pence":3924500,"siblings_2_pence":5886750,"siblings_3_pence":7849000,"siblings_4_plus_pence":9811250},
//	  "la_raa":{"one_child_pence":2700000,"siblings_2_pence":4050000,"siblings_3_pence":5400000,"siblings_4_plus_pence":6750000},
//	  "london_uplift_bp":1000,
//	  "instalments":[{"percent_bp":10000,"due":"at_placement"}],
//	  "intra_raa":"no_fee","vat":"exempt"}]}
//
// The default's sibling amounts and its whole 2026/27 year are
// placeholders that must be confirmed against CVAA's published rates (see
// DefaultFeeSchedule). Money is int64 pence; every sum and product goes
// through checked helpers, and one that would overflow rejects the
// command instead of wrapping.
//
// Obligations. reservation.place creates the fee when the child's agency
// (the holder, debtor) is not the approving agency (the listing's agency,
// creditor) and the intra-RAA rule does not exempt them: the amount comes
// from the fee year containing the move-in date, the payee's tier, the
// number of children and the payee's London flag. Its id is the place
// entry's sequence, and every placement stores exactly one fee decision
// (obligation, same_agency or intra_raa), so there is one obligation per
// placement, never two. A move-in date in a fee year the schedule does not
// cover rejects the place (invalid, naming the year): the federation adds
// the year by governance and the holder retries. Recording the placement
// without its fee would leave a fee nobody could raise.
//
// Lifecycle. invoice (creditor; the scheduled amount, or another with an
// adjustment code) → acknowledge (debtor) or dispute (debtor, with a
// reason) → propose_resolution (either side) and accept_resolution (the
// other side, naming the amount) → record_payment (debtor, partial allowed,
// overpayment refused, an opaque reference) → confirm_receipt (creditor,
// per payment) → settled once confirmed receipts cover the agreed amount.
// request_write_off by one side and agree_write_off by the other write
// the fee off. Every step is checked against the obligation's status and
// the signer's role; payloads are closed enumerations, amounts and tokens.
//
// Double entry (TigerBeetle style, accounts.go). Each agency has a
// receivable and a payable account with pending and posted debit and
// credit totals. Every movement is a stored, immutable Transfer debiting
// one account and crediting another: the scheduled fee is pending
// (creditor receivable / debtor payable) until an amount is agreed, when
// it is voided and the agreed amount posted; a payment is pending
// (discharging the debt) until the creditor confirms receipt, when it is
// posted; a write-off voids the pending fee or posts the unpaid rest. A
// rule computes its transfers after deciding and applies them before any
// other write, so an overflow still rejects with nothing written. Strict
// mode checks after every batch that the accounts sum to zero and that each
// touched obligation's transfers agree with its amounts and its placement;
// Check recomputes every account from the transfers.
//
// Netting (netting.go). A period selects obligations by move-in date (a
// fee year is FeeYearPeriod); statements select movements by ledger date.
// NettingPlan shows each agency's net position over the agreed, unpaid
// obligations of a period (no payment awaiting confirmation) and a plan
// of at most n-1 transfers: positions sorted by agency id, then greedily
// the largest debtor pays the largest creditor (ties to the smaller id).
// fee.netting_open, by a party, recomputes that plan inside the FSM and
// novates: each obligation's outstanding amount is discharged by a posted
// "netted" transfer and each leg is owed by a posted "net_due" transfer,
// so no agency's balance moves and the obligations are locked (status
// netting). fee.netting_pay (the leg's payer, pending) and
// fee.netting_confirm (its payee, posted) settle each leg; when every leg
// is confirmed the run and all its obligations settle.
//
// Statements (statement.go). Statement(agency, period, asOfSeq) lists the
// posted movements on the agency's accounts dated in the period, from
// entries at or below asOfSeq, with sequence and entry hash, between an
// opening and a closing balance; WriteCSV (RFC 4180, pounds) and WriteJSON
// (pence) give the same bytes every time. Reconcile compares a finance
// system's export in the same columns with the ledger: missing, extra and
// differing amounts.
package ledger
