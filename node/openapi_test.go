package node_test

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
	"go.yaml.in/yaml/v3"
)

// The parts of an OpenAPI 3.1 document that TestOpenAPIMatchesServer
// checks. Unknown keys are ignored, so the file may say more than this.
type (
	oaDoc struct {
		Security   []map[string][]string `yaml:"security"`
		Paths      map[string]oaPathItem `yaml:"paths"`
		Components struct {
			Schemas       map[string]*oaSchema     `yaml:"schemas"`
			Parameters    map[string]oaParam       `yaml:"parameters"`
			RequestBodies map[string]oaRequestBody `yaml:"requestBodies"`
		} `yaml:"components"`
	}
	oaPathItem struct {
		Parameters []oaParam      `yaml:"parameters"`
		Get        *oaOperation   `yaml:"get"`
		Put        *oaOperation   `yaml:"put"`
		Post       *oaOperation   `yaml:"post"`
		Delete     *oaOperation   `yaml:"delete"`
		Patch      *oaOperation   `yaml:"patch"`
		Head       *oaOperation   `yaml:"head"`
		Options    *oaOperation   `yaml:"options"`
		Extra      map[string]any `yaml:",inline"`
	}
	oaOperation struct {
		OperationID string                 `yaml:"operationId"`
		Roles       []string               `yaml:"x-raaft-roles"`
		Security    *[]map[string][]string `yaml:"security"` // nil: the document's
		Parameters  []oaParam              `yaml:"parameters"`
		RequestBody *oaRequestBody         `yaml:"requestBody"`
	}
	oaParam struct {
		Ref      string `yaml:"$ref"`
		Name     string `yaml:"name"`
		In       string `yaml:"in"`
		Required bool   `yaml:"required"`
	}
	oaRequestBody struct {
		Ref      string             `yaml:"$ref"`
		Required bool               `yaml:"required"`
		Content  map[string]oaMedia `yaml:"content"`
	}
	oaMedia struct {
		Schema *oaSchema `yaml:"schema"`
	}
	oaSchema struct {
		Ref          string               `yaml:"$ref"`
		GoType       string               `yaml:"x-go-type"`
		Properties   map[string]*oaSchema `yaml:"properties"`
		Items        *oaSchema            `yaml:"items"`
		Enum         []string             `yaml:"enum"`
		ProblemTypes []oaProblemType      `yaml:"x-raaft-problem-types"`
	}
	// oaProblemType is one row of the error table: type URI, status, title.
	oaProblemType struct {
		Type   string `yaml:"type"`
		Status int    `yaml:"status"`
		Title  string `yaml:"title"`
	}
)

// opBody is what one operation's handler reads as its body.
type opBody struct {
	// typ is the Go type the handler decodes; struct{} for an action that
	// takes no input (node's emptyBody). nil with media text/csv.
	typ reflect.Type
	// media is the content type documented for it.
	media string
	// optional bodies may be absent (emptyBody, optionalBody).
	optional bool
	// write is a command through the federation: it needs an Idempotency-Key.
	write bool
}

// opBodies maps every operation that is not a GET to the body its handler
// decodes, read from handlers_*.go. A new route must be added here: the
// test fails until it is. The fee actions and the netting leg payment
// decode node's unexported amountReq, whose JSON fields the test compares
// with protocol.FeeRequest's (the client's type) from the source.
var opBodies = func() map[string]opBody {
	json := func(t reflect.Type) opBody { return opBody{typ: t, media: "application/json", write: true} }
	none := opBody{typ: reflect.TypeFor[struct{}](), media: "application/json", optional: true, write: true}
	fee := json(reflect.TypeFor[protocol.FeeRequest]())
	release := json(reflect.TypeFor[protocol.ReleaseRequest]())
	release.optional = true
	return map[string]opBody{
		"publishListing": json(reflect.TypeFor[protocol.ListingRequest]()),
		"updateListing":  json(reflect.TypeFor[protocol.UpdateRequest]()),
		"pauseListing":   none, "resumeListing": none, "withdrawListing": none,
		"reserve":           json(reflect.TypeFor[protocol.ReserveRequest]()),
		"extendReservation": none, "confirmReservation": none, "expireReservation": none,
		"releaseReservation": release,
		"placeReservation":   json(reflect.TypeFor[protocol.PlaceRequest]()),
		"fee_invoice":        fee, "fee_acknowledge": none, "fee_dispute": fee, "fee_propose-resolution": fee,
		"fee_accept-resolution": fee, "fee_pay": fee, "fee_request-write-off": fee, "fee_agree-write-off": none,
		"confirmReceipt":    none,
		"openNetting":       json(reflect.TypeFor[ledger.NettingOpenPayload]()),
		"payNettingLeg":     fee,
		"confirmNettingLeg": none,
		"reconcile":         {media: "text/csv"},
		"propose":           json(reflect.TypeFor[ledger.ProposePayload]()),
		"approveProposal":   none,
		"registerNode":      json(reflect.TypeFor[ledger.Node]()),
		"removeNode":        none,
		"rotateAgencyKey":   none,
		"transferLeadership": func() opBody {
			b := none
			b.write = false // not a ledger write: no Idempotency-Key
			return b
		}(),
	}
}()

// goTypes are the Go types a schema may name in x-go-type; its properties
// must be exactly that type's JSON field names.
var goTypes = map[string]reflect.Type{}

func init() {
	for _, t := range []reflect.Type{
		reflect.TypeFor[ledger.Agency](), reflect.TypeFor[ledger.AgencyKey](), reflect.TypeFor[ledger.AgencyRecord](),
		reflect.TypeFor[ledger.Command](), reflect.TypeFor[ledger.ConsistencyProof](), reflect.TypeFor[ledger.FeePosition](),
		reflect.TypeFor[ledger.FeeProposal](), reflect.TypeFor[ledger.FeeSchedule](), reflect.TypeFor[ledger.FeeTierRates](),
		reflect.TypeFor[ledger.FeeYear](), reflect.TypeFor[ledger.Head](), reflect.TypeFor[ledger.HistoryEntry](),
		reflect.TypeFor[ledger.InclusionProof](), reflect.TypeFor[ledger.InstalmentTerm](), reflect.TypeFor[ledger.Listing](),
		reflect.TypeFor[ledger.ListingAttrs](), reflect.TypeFor[ledger.ListingPayload](), reflect.TypeFor[ledger.ListingView](),
		reflect.TypeFor[ledger.Mismatch](), reflect.TypeFor[ledger.Needs](), reflect.TypeFor[ledger.NetPosition](),
		reflect.TypeFor[ledger.NetTransfer](), reflect.TypeFor[ledger.NettingLeg](), reflect.TypeFor[ledger.NettingOpenPayload](),
		reflect.TypeFor[ledger.NettingPlan](), reflect.TypeFor[ledger.NettingRun](), reflect.TypeFor[ledger.Node](),
		reflect.TypeFor[ledger.Obligation](), reflect.TypeFor[ledger.ObligationInstalment](), reflect.TypeFor[ledger.Period](),
		reflect.TypeFor[ledger.Policy](), reflect.TypeFor[ledger.Proposal](), reflect.TypeFor[ledger.ProposePayload](),
		reflect.TypeFor[ledger.Reconciliation](), reflect.TypeFor[ledger.Rejection](), reflect.TypeFor[ledger.Reservation](),
		reflect.TypeFor[ledger.ReservePayload](), reflect.TypeFor[ledger.SearchResult](), reflect.TypeFor[ledger.Statement](),
		reflect.TypeFor[ledger.StatementLine](),
		reflect.TypeFor[protocol.Checkpoint](), reflect.TypeFor[protocol.CheckpointList](), reflect.TypeFor[protocol.CheckpointSignature](), reflect.TypeFor[protocol.ClusterStatus](),
		reflect.TypeFor[protocol.Entry](), reflect.TypeFor[protocol.FeeRequest](), reflect.TypeFor[protocol.Health](), reflect.TypeFor[protocol.Readiness](), reflect.TypeFor[protocol.LeadershipTransfer](),
		reflect.TypeFor[protocol.PlaceRequest](), reflect.TypeFor[protocol.Problem](), reflect.TypeFor[protocol.ReleaseRequest](),
		reflect.TypeFor[protocol.Server](), reflect.TypeFor[protocol.UpdateRequest](), reflect.TypeFor[protocol.WriteResult](),
	} {
		goTypes[filepath.Base(t.PkgPath())+"."+t.Name()] = t
	}
}

// TestOpenAPIMatchesServer keeps docs/openapi.yaml true to the server:
// every registered route and nothing else, each with its operationId,
// roles, query parameters, Idempotency-Key on writes and the request body
// its handler decodes; every schema naming a Go type (x-go-type) has
// exactly that type's JSON fields; and the Problem schema lists exactly
// the rows of the error table in node/errors.go.
func TestOpenAPIMatchesServer(t *testing.T) {
	doc := loadOpenAPI(t, "../docs/openapi.yaml")
	routes := newAPIEnvServer(t).Routes()
	t.Run("operations", func(t *testing.T) { checkOperations(t, doc, routes) })
	t.Run("schemas", func(t *testing.T) { checkGoSchemas(t, doc) })
	t.Run("problem types", func(t *testing.T) { checkProblemTypes(t, doc) })
	t.Run("amountReq", func(t *testing.T) {
		got := structJSONNames(t, "handlers_fees.go", "amountReq")
		if want := jsonFields(reflect.TypeFor[protocol.FeeRequest]()); !slices.Equal(got, want) {
			t.Errorf("node's amountReq decodes %v; protocol.FeeRequest (documented as FeeRequest) has %v", got, want)
		}
	})
}

func loadOpenAPI(t *testing.T, path string) *oaDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc oaDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &doc
}

// checkOperations compares every route with its operation, both ways.
func checkOperations(t *testing.T, doc *oaDoc, routes []node.Route) {
	registered := map[string]bool{}
	for _, r := range routes {
		path := openAPIPath(r.Pattern)
		key := r.Method + " " + path
		registered[key] = true
		op := doc.operation(r.Method, path)
		if op == nil {
			t.Errorf("docs/openapi.yaml does not document %s (%s)", key, r.OperationID)
			continue
		}
		checkOperation(t, doc, r, path, op)
	}
	for path, item := range doc.Paths {
		for method, op := range item.operations() {
			if key := method + " " + path; !registered[key] {
				t.Errorf("docs/openapi.yaml documents %s (%s), which the server does not register", key, op.OperationID)
			}
		}
		if len(item.Extra) > 0 {
			t.Errorf("%s: keys %v are not checked here (only get/put/post/delete/patch/head/options and parameters)", path, slices.Sorted(maps.Keys(item.Extra)))
		}
	}
	for id := range opBodies {
		if !slices.ContainsFunc(routes, func(r node.Route) bool { return r.OperationID == id }) {
			t.Errorf("opBodies names %s, which the server does not register", id)
		}
	}
}

// checkOperation compares one route with its documented operation.
func checkOperation(t *testing.T, doc *oaDoc, r node.Route, path string, op *oaOperation) {
	t.Helper()
	key := r.Method + " " + path
	if op.OperationID != r.OperationID {
		t.Errorf("%s: operationId %q; the server's is %q", key, op.OperationID, r.OperationID)
	}
	if got, want := sortedCopy(op.Roles), sortedCopy(r.Roles); !slices.Equal(got, want) {
		t.Errorf("%s: x-raaft-roles %v; the server's roles are %v", key, got, want)
	}
	security := doc.Security
	if op.Security != nil {
		security = *op.Security
	}
	bearer := slices.ContainsFunc(security, func(s map[string][]string) bool { _, ok := s["bearerAuth"]; return ok })
	if r.Roles == nil && len(security) != 0 {
		t.Errorf("%s: needs no token, but its security is %v (want security: [])", key, security)
	}
	if r.Roles != nil && !bearer {
		t.Errorf("%s: needs a token, but its security %v has no bearerAuth", key, security)
	}
	params := doc.parameters(t, key, append(slices.Clone(doc.Paths[path].Parameters), op.Parameters...))
	if got, want := paramNames(params, "query"), expectedQuery(r); !slices.Equal(got, want) {
		t.Errorf("%s: query parameters %v; the server takes %v", key, got, want)
	}
	if got, want := paramNames(params, "path"), pathParams(path); !slices.Equal(got, want) {
		t.Errorf("%s: path parameters %v; the path has %v", key, got, want)
	}
	for _, p := range params {
		if p.In == "path" && !p.Required {
			t.Errorf("%s: path parameter %s must be required", key, p.Name)
		}
	}
	body, hasBody := opBodies[r.OperationID]
	if r.Method != http.MethodGet && !hasBody {
		t.Errorf("%s: %s is not in opBodies: add the body its handler decodes", key, r.OperationID)
	}
	idem := slices.IndexFunc(params, func(p oaParam) bool { return p.In == "header" && p.Name == "Idempotency-Key" })
	switch {
	case body.write && (idem < 0 || !params[idem].Required):
		t.Errorf("%s: a write without a required Idempotency-Key header", key)
	case !body.write && idem >= 0:
		t.Errorf("%s: not a write, but documents an Idempotency-Key header", key)
	}
	checkRequestBody(t, doc, key, op.RequestBody, body, hasBody)
}

// checkRequestBody compares a documented request body with what the
// handler decodes: media type, whether it may be absent, and for JSON the
// property names against the Go type's JSON field names.
func checkRequestBody(t *testing.T, doc *oaDoc, key string, rb *oaRequestBody, want opBody, has bool) {
	t.Helper()
	if rb != nil && rb.Ref != "" {
		name, ok := strings.CutPrefix(rb.Ref, "#/components/requestBodies/")
		b, found := doc.Components.RequestBodies[name]
		if !ok || !found {
			t.Errorf("%s: requestBody $ref %s does not resolve", key, rb.Ref)
			return
		}
		rb = &b
	}
	switch {
	case !has && rb != nil:
		t.Errorf("%s: documents a request body; the handler reads none", key)
		return
	case !has:
		return
	case rb == nil:
		t.Errorf("%s: no request body documented; the handler reads %s", key, want.media)
		return
	}
	if rb.Required == want.optional {
		t.Errorf("%s: requestBody required is %v; the handler's body is optional=%v", key, rb.Required, want.optional)
	}
	if got := slices.Sorted(maps.Keys(rb.Content)); !slices.Equal(got, []string{want.media}) {
		t.Errorf("%s: request body media types %v; the handler reads %s", key, got, want.media)
		return
	}
	if want.typ == nil {
		return
	}
	s := doc.resolve(rb.Content[want.media].Schema)
	if s == nil {
		t.Errorf("%s: request body schema missing or its $ref does not resolve", key)
		return
	}
	if got, w := slices.Sorted(maps.Keys(s.Properties)), jsonFields(want.typ); !slices.Equal(got, w) {
		t.Errorf("%s: request body properties %v; the handler decodes %s with JSON fields %v", key, got, want.typ, w)
	}
}

// checkGoSchemas compares every schema that names a Go type with that
// type's JSON fields, and requires every known type to be documented.
func checkGoSchemas(t *testing.T, doc *oaDoc) {
	used := map[string]bool{}
	for name, s := range doc.Components.Schemas {
		if s.GoType == "" {
			continue
		}
		typ, ok := goTypes[s.GoType]
		if !ok {
			t.Errorf("schema %s: x-go-type %s is not in goTypes", name, s.GoType)
			continue
		}
		used[s.GoType] = true
		if got, want := slices.Sorted(maps.Keys(s.Properties)), jsonFields(typ); !slices.Equal(got, want) {
			t.Errorf("schema %s: properties %v; %s has JSON fields %v", name, got, s.GoType, want)
		}
	}
	for name := range goTypes {
		if !used[name] {
			t.Errorf("no schema has x-go-type %s", name)
		}
	}
}

// checkProblemTypes compares the Problem schema's problem types with the
// rows of the error table, read from node/errors.go.
func checkProblemTypes(t *testing.T, doc *oaDoc) {
	p := doc.Components.Schemas["Problem"]
	if p == nil || p.Properties["type"] == nil {
		t.Fatal("no Problem schema with a type property")
	}
	table := errorTable(t)
	var listed, want []oaProblemType
	for _, k := range table {
		want = append(want, oaProblemType{Type: protocol.ProblemTypeBase + k.Type, Status: k.Status, Title: k.Title})
	}
	listed = slices.Clone(p.ProblemTypes)
	byType := func(a, b oaProblemType) int { return strings.Compare(a.Type, b.Type) }
	slices.SortFunc(listed, byType)
	slices.SortFunc(want, byType)
	for _, w := range want {
		if !slices.Contains(listed, w) {
			t.Errorf("Problem x-raaft-problem-types lacks the error table's %+v", w)
		}
	}
	var uris []string
	for _, l := range listed {
		if !slices.Contains(want, l) {
			t.Errorf("Problem x-raaft-problem-types lists %+v, which is not a row of the error table", l)
		}
		uris = append(uris, l.Type)
	}
	if got := sortedCopy(p.Properties["type"].Enum); !slices.Equal(got, uris) {
		t.Errorf("Problem type enum %v; x-raaft-problem-types has %v", got, uris)
	}
}

// errorTable reads the rows of node's error table: every problemKind
// literal in errors.go, {status, name, title}, with the http.Status* and
// protocol.Problem* constants resolved from their sources.
func errorTable(t *testing.T) []oaProblemType {
	t.Helper()
	httpDir, err := build.Import("net/http", "", build.FindOnly)
	if err != nil {
		t.Fatal(err)
	}
	statuses := constValues(t, filepath.Join(httpDir.Dir, "status.go"))
	names := constValues(t, "../protocol/problem.go")
	f := parseGo(t, "errors.go")
	var rows []oaProblemType
	ast.Inspect(f, func(n ast.Node) bool {
		cl, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		if id, ok := cl.Type.(*ast.Ident); !ok || id.Name != "problemKind" {
			return true
		}
		if len(cl.Elts) != 3 {
			t.Fatalf("errors.go: a problemKind literal with %d elements; this test reads {status, name, title}", len(cl.Elts))
		}
		status, err := strconv.Atoi(selectorValue(t, cl.Elts[0], "http", statuses))
		if err != nil {
			t.Fatalf("errors.go: status: %v", err)
		}
		title, err := strconv.Unquote(cl.Elts[2].(*ast.BasicLit).Value)
		if err != nil {
			t.Fatalf("errors.go: title: %v", err)
		}
		rows = append(rows, oaProblemType{Type: selectorValue(t, cl.Elts[1], "protocol", names), Status: status, Title: title})
		return true
	})
	if len(rows) == 0 {
		t.Fatal("errors.go: no problemKind rows found")
	}
	return rows
}

// selectorValue resolves pkg.Name in e to the constant's source value.
func selectorValue(t *testing.T, e ast.Expr, pkg string, consts map[string]string) string {
	t.Helper()
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.X.(*ast.Ident).Name != pkg {
		t.Fatalf("errors.go: %T in a problemKind literal; this test resolves %s.Name constants", e, pkg)
	}
	v, ok := consts[sel.Sel.Name]
	if !ok {
		t.Fatalf("errors.go: %s.%s: no such constant found", pkg, sel.Sel.Name)
	}
	return v
}

// constValues returns the basic-literal constants of one Go file, unquoted.
func constValues(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range parseGo(t, path).Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
						v, err := strconv.Unquote(lit.Value)
						if err != nil {
							v = lit.Value
						}
						out[n.Name] = v
					}
				}
			}
		}
	}
	return out
}

// structJSONNames returns the sorted JSON names of a struct type declared
// in one of node's files (for unexported types reflect cannot reach).
func structJSONNames(t *testing.T, file, typeName string) []string {
	t.Helper()
	var names []string
	found := false
	ast.Inspect(parseGo(t, file), func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != typeName {
			return true
		}
		found = true
		for _, f := range ts.Type.(*ast.StructType).Fields.List {
			tag := ""
			if f.Tag != nil {
				tag, _ = strconv.Unquote(f.Tag.Value)
			}
			name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
			for _, id := range f.Names {
				switch {
				case name == "-" || !id.IsExported():
				case name != "":
					names = append(names, name)
				default:
					names = append(names, id.Name)
				}
			}
		}
		return false
	})
	if !found {
		t.Fatalf("%s: no type %s", file, typeName)
	}
	slices.Sort(names)
	return names
}

func parseGo(t *testing.T, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// jsonFields returns the sorted JSON member names encoding/json uses for
// a struct type: exported fields, tag names, "-" skipped, embedded structs
// without a tag name promoted.
func jsonFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case name == "-":
		case f.Anonymous && name == "" && ft.Kind() == reflect.Struct:
			out = append(out, jsonFields(ft)...)
		case !f.IsExported():
		case name != "":
			out = append(out, name)
		default:
			out = append(out, f.Name)
		}
	}
	slices.Sort(out)
	return out
}

// expectedQuery is the query parameters a route accepts, as the server
// reads them (api.go checkParams, serve): its Params with the need.*
// prefix expanded to the ledger's need categories (any other need.* is a
// 400), plus consistency on authenticated GETs, where it takes effect.
func expectedQuery(r node.Route) []string {
	var out []string
	for _, p := range r.Params {
		if prefix, wild := strings.CutSuffix(p, "*"); wild {
			for _, c := range ledger.NeedCategories {
				out = append(out, prefix+c)
			}
			continue
		}
		out = append(out, p)
	}
	if r.Roles != nil && r.Method == http.MethodGet && !slices.Contains(out, protocol.ParamConsistency) {
		out = append(out, protocol.ParamConsistency)
	}
	slices.Sort(out)
	return out
}

// openAPIPath turns a ServeMux pattern's path into OpenAPI's form.
func openAPIPath(pattern string) string {
	return strings.ReplaceAll(strings.ReplaceAll(pattern, "{$}", ""), "...}", "}")
}

func pathParams(path string) []string {
	var out []string
	for rest := path; ; {
		i := strings.Index(rest, "{")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], "}")
		out = append(out, rest[i+1:i+j])
		rest = rest[i+j:]
	}
	slices.Sort(out)
	return out
}

func paramNames(params []oaParam, in string) []string {
	var out []string
	for _, p := range params {
		if p.In == in {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out
}

// parameters resolves $refs to components/parameters.
func (d *oaDoc) parameters(t *testing.T, key string, ps []oaParam) []oaParam {
	t.Helper()
	out := make([]oaParam, 0, len(ps))
	for _, p := range ps {
		if p.Ref != "" {
			name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
			rp, found := d.Components.Parameters[name]
			if !ok || !found {
				t.Errorf("%s: parameter $ref %s does not resolve", key, p.Ref)
				continue
			}
			p = rp
		}
		out = append(out, p)
	}
	return out
}

// resolve follows one $ref to components/schemas.
func (d *oaDoc) resolve(s *oaSchema) *oaSchema {
	if s == nil || s.Ref == "" {
		return s
	}
	name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/")
	if !ok {
		return nil
	}
	return d.Components.Schemas[name]
}

func (d *oaDoc) operation(method, path string) *oaOperation {
	item, ok := d.Paths[path]
	if !ok {
		return nil
	}
	return item.operations()[method]
}

func (p oaPathItem) operations() map[string]*oaOperation {
	out := map[string]*oaOperation{}
	for m, op := range map[string]*oaOperation{"GET": p.Get, "PUT": p.Put, "POST": p.Post, "DELETE": p.Delete,
		"PATCH": p.Patch, "HEAD": p.Head, "OPTIONS": p.Options} {
		if op != nil {
			out[m] = op
		}
	}
	return out
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
