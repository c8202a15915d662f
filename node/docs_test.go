package node_test

import (
	"os"
	"strings"
	"testing"
)

// TestAPIDocListsEveryRoute keeps docs/API.md honest: every route the
// server registers is documented, and nothing documented is missing.
func TestAPIDocListsEveryRoute(t *testing.T) {
	e := newAPIEnvServer(t)
	doc, err := os.ReadFile("../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, r := range e.Routes() {
		key := "`" + r.Method + " " + r.Pattern + "`"
		registered[key] = true
		if !strings.Contains(string(doc), key) {
			t.Errorf("docs/API.md does not document %s", key)
		}
	}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| `") {
			key := line[2 : strings.Index(line[3:], "`")+4]
			if !registered[key] {
				t.Errorf("docs/API.md documents %s, which the server does not register", key)
			}
		}
	}
}
