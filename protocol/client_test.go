package protocol_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeNode answers each request with the next scripted response and
// records what it was sent.
type fakeNode struct {
	mu      sync.Mutex
	script  []func(w http.ResponseWriter)
	keys    []string
	methods []string
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
	f.methods = append(f.methods, r.Method+" "+r.URL.RequestURI())
	var next func(http.ResponseWriter)
	if len(f.script) > 0 {
		next, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()
	if next == nil {
		problem(http.StatusServiceUnavailable, protocol.ProblemNoLeader, "")(w)
		return
	}
	next(w)
}

func (f *fakeNode) sent() ([]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.keys...), append([]string(nil), f.methods...)
}

func problem(status int, name, code string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(protocol.Problem{Type: protocol.ProblemTypeBase + name, Title: "t", Status: status, Detail: "d", Code: code})
	}
}

func accepted(replayed bool) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(protocol.WriteResult{Result: ledger.Result{Accepted: true, Seq: 7, TreeSize: 8}})
	}
}

func newFake(t *testing.T, script ...func(http.ResponseWriter)) (*fakeNode, *protocol.Client) {
	f := &fakeNode{script: script}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return f, protocol.NewClient(ts.URL, "tok", nil)
}

// TestWriteRetries: a write whose outcome is unknown (503, 504, 502) is
// retried with the same key; a definite answer is not; attempts are bounded.
func TestWriteRetries(t *testing.T) {
	ctx := context.Background()
	req := protocol.ListingRequest{Token: protocol.NewToken()}
	cases := []struct {
		name     string
		script   []func(http.ResponseWriter)
		key      string
		attempts int
		status   int // 0: success
	}{
		{"503 then 504 then accepted", []func(http.ResponseWriter){
			problem(503, protocol.ProblemNoLeader, ""), problem(504, protocol.ProblemOutcomeUnknown, ""), accepted(true)}, "my-key-0001", 3, 0},
		{"502 from a proxy", []func(http.ResponseWriter){func(w http.ResponseWriter) { http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway) }, accepted(false)}, "", 2, 0},
		{"conflict is definite", []func(http.ResponseWriter){problem(409, protocol.ProblemConflict, "conflict")}, "", 1, 409},
		{"invalid is definite", []func(http.ResponseWriter){problem(400, protocol.ProblemInvalid, "")}, "", 1, 400},
		{"bounded", nil, "", 5, 503},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, cl := newFake(t, c.script...)
			r, err := cl.Publish(ctx, req, c.key)
			keys, _ := f.sent()
			if len(keys) != c.attempts {
				t.Fatalf("%d attempts; want %d", len(keys), c.attempts)
			}
			for _, k := range keys {
				if k != keys[0] || !regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`).MatchString(k) || (c.key != "" && k != c.key) {
					t.Fatalf("keys %v: every attempt must carry the same valid key", keys)
				}
			}
			if c.status == 0 {
				if err != nil || !r.Accepted || r.Seq != 7 {
					t.Fatalf("%v %+v", err, r)
				}
				if c.name == "503 then 504 then accepted" && !r.Replayed {
					t.Fatal("Idempotent-Replayed not reported")
				}
				return
			}
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Status != c.status {
				t.Fatalf("%v", err)
			}
		})
	}
}

// TestReadsAreNotRetried: only writes carry a key and are retried.
func TestReadsAreNotRetried(t *testing.T) {
	f, cl := newFake(t)
	_, err := cl.Head(context.Background(), true)
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Status != 503 {
		t.Fatalf("%v", err)
	}
	keys, methods := f.sent()
	if len(keys) != 1 || keys[0] != "" || methods[0] != "GET /v1/head?consistency=linearizable" {
		t.Fatalf("%v %v", keys, methods)
	}
}

// TestRetryHonoursContext: a cancelled context stops the retries at once.
func TestRetryHonoursContext(t *testing.T) {
	_, cl := newFake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := cl.Reserve(ctx, protocol.ReserveRequest{Listing: "x"}, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v after the deadline", d)
	}
}

// TestProblemMapping: the problem's type maps back to Code even when the
// body carries none; a body that is not a problem still gives the status.
func TestProblemMapping(t *testing.T) {
	cases := []struct {
		name   string
		resp   func(http.ResponseWriter)
		status int
		code   string
	}{
		{"ledger code", problem(409, protocol.ProblemConflict, string(ledger.CodeConflict)), 409, "conflict"},
		{"type only", problem(403, protocol.ProblemForbidden, ""), 403, protocol.ProblemForbidden},
		{"foreign type", func(w http.ResponseWriter) {
			w.WriteHeader(418)
			_, _ = w.Write([]byte(`{"type":"https://example.org/teapot","title":"Teapot"}`))
		}, 418, ""},
		{"not JSON", func(w http.ResponseWriter) { http.Error(w, "gone", http.StatusGone) }, 410, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, cl := newFake(t, c.resp)
			_, err := cl.Agencies(context.Background())
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Status != c.status || pe.Code != c.code || pe.Title == "" {
				t.Fatalf("%#v", err)
			}
		})
	}
	var hold protocol.Problem
	_ = json.Unmarshal([]byte(`{"type":"https://raaft.dev/problems/conflict","status":409,"title":"Conflict","code":"conflict","hold_expires_ms":1775001600000,"field":"listing"}`), &hold)
	if hold.HoldExpiresMs != 1775001600000 || hold.Field != "listing" {
		t.Fatalf("%+v", hold)
	}
	if protocol.ProblemName("https://raaft.dev/problems/not_found") != protocol.ProblemNotFound || protocol.ProblemName("https://raaft.dev/problems/") != "" || protocol.ProblemName("about:blank") != "" {
		t.Fatal("ProblemName")
	}
}

// TestUnreachable: a transport failure is ErrUnreachable, and it keeps
// the cause inspectable.
func TestUnreachable(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	_, err := protocol.NewClient(url, "", nil).Cluster(context.Background())
	if !errors.Is(err, protocol.ErrUnreachable) {
		t.Fatalf("%v", err)
	}
}

// TestResponseTooLarge: an oversize response is an error, never cut short.
func TestResponseTooLarge(t *testing.T) {
	_, cl := newFake(t, func(w http.ResponseWriter) {
		_, _ = w.Write([]byte(`[` + strings.Repeat(`{},`, 12<<20) + `{}]`))
	})
	_, err := cl.Agencies(context.Background())
	if !errors.Is(err, protocol.ErrResponseTooLarge) {
		t.Fatalf("%v", err)
	}
}

// TestNewToken: tokens are 22 alphanumerics with a digit, pass the
// ledger's token checks, and do not repeat.
func TestNewToken(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]{22}$`)
	seen := map[string]bool{}
	for range 2000 {
		tok := protocol.NewToken()
		if !re.MatchString(tok) || !strings.ContainsAny(tok, "0123456789") || ledger.CheckToken(tok) != nil || seen[tok] {
			t.Fatalf("token %q", tok)
		}
		seen[tok] = true
	}
	if k := protocol.NewIdempotencyKey(); !regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`).MatchString(k) {
		t.Fatalf("key %q", k)
	}
}

// TestRemoveNodeAndMetrics: RemoveNode escapes the node id into the path
// and sends a key; Metrics returns the body verbatim, not decoded as JSON.
func TestRemoveNodeAndMetrics(t *testing.T) {
	const text = "# HELP up Up.\nup{job=\"x\"} 1\n"
	f, cl := newFake(t, accepted(false), func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(text))
	})
	ctx := context.Background()
	if r, err := cl.RemoveNode(ctx, "north raa/node2", ""); err != nil || r.Seq != 7 {
		t.Fatalf("RemoveNode: %v %+v", err, r)
	}
	b, err := cl.Metrics(ctx)
	if err != nil || string(b) != text {
		t.Fatalf("Metrics: %v %q", err, b)
	}
	keys, methods := f.sent()
	want := []string{"POST /v1/agency/nodes/north%20raa%2Fnode2/remove", "GET /metrics"}
	if len(methods) != 2 || methods[0] != want[0] || methods[1] != want[1] || keys[0] == "" || keys[1] != "" {
		t.Fatalf("sent %v with keys %q; want %v, a key on the write only", methods, keys, want)
	}
}

// TestFeeReadsCarryTheReadLevel: the one-item fee reads ask for the read
// level they are given (the CLI's fees commands read linearizably by default).
func TestFeeReadsCarryTheReadLevel(t *testing.T) {
	ctx := context.Background()
	f, cl := newFake(t)
	cl.Obligation(ctx, 4, true)
	cl.Obligation(ctx, 4, false)
	cl.Position(ctx, "2026-05-01", true)
	cl.Position(ctx, "", false)
	cl.NettingRun(ctx, 9, true)
	_, methods := f.sent()
	want := []string{
		"GET /v1/fees/obligations/4?consistency=linearizable", "GET /v1/fees/obligations/4",
		"GET /v1/fees/position?as_of=2026-05-01&consistency=linearizable", "GET /v1/fees/position",
		"GET /v1/fees/netting/9?consistency=linearizable",
	}
	if !slices.Equal(methods, want) {
		t.Fatalf("sent %q\nwant %q", methods, want)
	}
}
