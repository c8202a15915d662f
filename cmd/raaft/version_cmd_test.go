package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/raaft/raaft/node"
)

// TestVersion: `raaft version` names the Go toolchain that built it (and
// the module version and VCS revision where the build recorded them), as
// a table or JSON; any other --output is a usage error.
func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), runtime.Version()) || !strings.HasPrefix(out.String(), "raaft ") {
		t.Fatalf("version: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"version", "--output", "json"}, &out, &errb); code != exitOK {
		t.Fatalf("version --output json: exit %d: %s", code, errb.String())
	}
	var b node.Build
	if err := json.Unmarshal(out.Bytes(), &b); err != nil || b.GoVersion != runtime.Version() || b.Version == "" || b.Revision == "" {
		t.Fatalf("version JSON %q: %+v, %v", out.String(), b, err)
	}
	if code := run([]string{"version", "--output", "yaml"}, &out, &errb); code != exitUsage {
		t.Fatalf("version --output yaml: exit %d, want %d", code, exitUsage)
	}
}
