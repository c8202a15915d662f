package protocol

// Roles a user's token may carry (the identity provider's roles claim).
// Every API operation declares the roles it accepts; the node and its web
// console both use these names.
const (
	// RoleMatching is a family-finding officer: searches, reserves, confirms, places.
	RoleMatching = "matching"
	// RoleFinance is a finance officer: fees, invoices, payments, statements.
	RoleFinance = "finance"
	// RoleOperator runs the node: reads everything, writes nothing.
	RoleOperator = "operator"
	// RoleAuditor verifies the ledger: entries, proofs, checkpoints.
	RoleAuditor = "auditor"
)

// Roles is the closed set of roles; role names outside it in a token are
// ignored. Callers must not modify it.
var Roles = []string{RoleMatching, RoleFinance, RoleOperator, RoleAuditor}
