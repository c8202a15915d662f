package ledger_test

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeterminismLint keeps the state machine deterministic: the ledger
// package (not its tests) may not read a clock, use randomness, or range
// over a map unless the line carries a //det:ok comment saying why the
// order cannot reach hashed or stored bytes. It type-checks the package so
// that a map hidden behind a type name or a field is still found.
func TestDeterminismLint(t *testing.T) {
	for _, dir := range []string{"."} {
		for _, p := range lintDir(t, dir) {
			t.Error(p)
		}
	}
}

var forbiddenImports = map[string]string{
	"math/rand":    "randomness",
	"math/rand/v2": "randomness",
	"crypto/rand":  "randomness (key generation belongs outside the ledger)",
	"os/exec":      "the outside world",
	"net":          "the network",
	"net/http":     "the network",
}

var forbiddenCalls = map[string]bool{
	"time.Now": true, "time.Since": true, "time.Until": true, "time.Tick": true,
	"time.After": true, "time.NewTimer": true, "time.NewTicker": true, "os.Getenv": true,
}

func lintDir(t *testing.T, dir string) []string {
	fset := token.NewFileSet()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil), Error: func(error) {}}
	conf.Check("ledger", fset, files, info) // errors only hide types; unknown range types are flagged below
	var problems []string
	at := func(p token.Pos, msg string) { problems = append(problems, fset.Position(p).String()+": "+msg) }
	for _, f := range files {
		okLines := map[int]bool{}
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if strings.HasPrefix(c.Text, "//det:ok") {
					okLines[fset.Position(c.Pos()).Line] = true
				}
			}
		}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if why, bad := forbiddenImports[path]; bad {
				at(imp.Pos(), "imports "+path+": "+why+" is not allowed in the state machine")
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok {
					if pkg, ok := info.Uses[id].(*types.PkgName); ok && forbiddenCalls[pkg.Imported().Path()+"."+n.Sel.Name] {
						at(n.Pos(), pkg.Imported().Path()+"."+n.Sel.Name+" reads the clock or environment; take time from the envelope")
					}
				}
			case *ast.RangeStmt:
				if okLines[fset.Position(n.Pos()).Line] {
					return true
				}
				tv, known := info.Types[n.X]
				if !known || tv.Type == nil {
					at(n.Pos(), "range over an expression of unknown type; annotate //det:ok if it is not a map")
				} else if _, isMap := tv.Type.Underlying().(*types.Map); isMap {
					at(n.Pos(), "range over a map: order is random; iterate sorted keys or annotate //det:ok with why order cannot matter")
				}
			}
			return true
		})
	}
	return problems
}

// TestDeterminismLintCatches proves the lint fails on the things it forbids.
func TestDeterminismLintCatches(t *testing.T) {
	dir := t.TempDir()
	src := `package bad
import ("time"; "math/rand")
func f(m map[string]int) (n int64) {
	for k := range m { _ = k }
	type alias map[int]bool
	var a alias
	for range a {}
	for range m { } //det:ok order does not matter here
	return time.Now().Unix() + int64(rand.Int())
}
`
	if err := os.WriteFile(filepath.Join(dir, "bad.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(lintDir(t, dir), "\n")
	for _, want := range []string{"imports math/rand", "time.Now", "bad.go:4:", "bad.go:7:"} {
		if !strings.Contains(got, want) {
			t.Errorf("lint missed %q; it said:\n%s", want, got)
		}
	}
	if strings.Contains(got, "bad.go:8:") {
		t.Errorf("lint flagged an annotated range:\n%s", got)
	}
}
