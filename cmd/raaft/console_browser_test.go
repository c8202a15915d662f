package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/raaft/raaft/protocol"
)

// Browser test limits.
const (
	// browserTestTimeout bounds the whole journey.
	browserTestTimeout = 4 * time.Minute
	// devUpTimeout bounds `raaft dev up` until it prints that the federation runs.
	devUpTimeout = 2 * time.Minute
	// browserStepTimeout bounds one page step (a write crosses the federation).
	browserStepTimeout = 30 * time.Second
)

// TestConsoleInBrowser drives the web console in Debian's headless
// Chromium against a real `raaft dev up` federation (three node
// processes): sign in, search, reserve at one agency, see the hold from a
// second agency's console, release; reserve, confirm and place; then the
// fee journey across two finance officers' consoles ending in a statement
// download; and the operators' federation page. A screenshot of each page
// goes to $RAAFT_SCREENSHOTS (make screenshots: docs/screenshots), else a
// temporary folder.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a federation and a browser")
	}
	chromium := findChromium(t)
	bin := filepath.Join(t.TempDir(), "raaft")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir, off := t.TempDir(), freePortOffset(t, 3)
	startDevUp(t, bin, dir, off)
	shots := os.Getenv("RAAFT_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	url := func(agency int, path string) string {
		return "https://" + devAddr(devAPIPortBase, off, agency) + path
	}

	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1366, 900))...)
	defer cancelAlloc()
	// One browser context per officer: separate cookie jars, as separate
	// people on separate machines (cookies ignore the port).
	root, cancelRoot := chromedp.NewContext(alloc)
	defer cancelRoot()
	if err := chromedp.Do(root); err != nil { // starts the browser; no timeout on the first call (chromedp.Run)
		t.Fatalf("starting %s: %v", chromium, err)
	}
	officer := func() context.Context {
		c, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		if err := chromedp.Do(c); err != nil { // opens the tab
			t.Fatal(err)
		}
		return c
	}
	north, hope := officer(), officer()
	b := &browserRun{t: t, shots: shots}

	// Matching officer at north-raa: sign in, keyboard first.
	b.run(north, "sign-in page", chromedp.Navigate(url(0, "/")), chromedp.WaitVisible(chromedp.CSS(`[data-test=dev-matching]`)))
	b.shot(north, "01-signin")
	b.run(north, "keyboard: Tab", chromedp.KeyEvent(kb.Tab))
	focused := b.eval(north, `document.activeElement.className`)
	if focused != "skip" {
		t.Errorf("first Tab focused %q; want the skip link", focused)
	}
	b.run(north, "one-click sign-in", chromedp.Click(chromedp.CSS(`[data-test=dev-matching]`)), chromedp.WaitVisible(chromedp.CSS(`[data-test=count]`)))
	b.expectText(north, `[data-test=flash]`, "Signed in as")
	b.shot(north, "02-search")

	// Search with filters: children 1, region london (capital-raa's listings).
	b.run(north, "search with filters", chromedp.Navigate(url(0, "/search")), chromedp.WaitVisible(chromedp.CSS(`#children`)),
		chromedp.SetValue(chromedp.CSS(`#children`), "1"), chromedp.SetValue(chromedp.CSS(`#agency`), "capital-raa"),
		chromedp.Click(chromedp.CSS(`[data-test=search]`)), chromedp.WaitVisible(chromedp.CSS(`[data-test=count]`)))
	count := b.text(north, `[data-test=count] strong`)
	if n, err := strconv.Atoi(count); err != nil || n < 1 {
		t.Fatalf("search result count %q; want at least one capital-raa adopter", count)
	}
	listing := b.text(north, `[data-test=listing]`)
	b.run(north, "open the first result", chromedp.Click(chromedp.CSS(`[data-test=listing]`)), chromedp.WaitVisible(chromedp.CSS(`[data-test=history]`)))
	b.expectText(north, `[data-test=status]`, "available")
	b.shot(north, "03-listing")

	// Reserve, submitting with Enter from the child reference field.
	b.act(north, "reserve", chromedp.SendKeys(chromedp.CSS(`#child_tokens`), protocol.NewToken()), chromedp.SendKeys(chromedp.CSS(`#child_tokens`), kb.Enter))
	b.expectText(north, `[data-test=flash]`, "Reserved: hold")
	b.expectText(north, `[data-test=time-left]`, "left")
	b.shot(north, "04-holds")

	// A second agency's officer sees the hold, and until when.
	b.run(hope, "second agency signs in", chromedp.Navigate(url(2, "/signin")), chromedp.Click(chromedp.CSS(`[data-test=dev-matching]`)), chromedp.WaitVisible(chromedp.CSS(`[data-test=count]`)))
	b.run(hope, "second agency opens the listing", chromedp.Navigate(url(2, "/listings/"+listing+"?consistency=linearizable")), chromedp.WaitVisible(chromedp.CSS(`[data-test=history]`)))
	b.waitText(hope, url(2, "/listings/"+listing), `[data-test=held-by-other]`, "Held by north-raa")
	b.expectText(hope, `[data-test=held-by-other]`, " left")
	b.shot(hope, "05-listing-held-elsewhere")

	// North releases; the adopter is available again everywhere.
	b.act(north, "release", chromedp.Click(chromedp.CSS(`[data-test=release]`)))
	b.expectText(north, `[data-test=flash]`, "Released hold")
	b.waitText(hope, url(2, "/listings/"+listing), `[data-test=status]`, "available")

	// Reserve again, confirm the match, record the placement: a fee is owed.
	b.run(north, "open the listing again", chromedp.Navigate(url(0, "/listings/"+listing)), chromedp.WaitVisible(chromedp.CSS(`#child_tokens`)))
	b.act(north, "reserve again", chromedp.SendKeys(chromedp.CSS(`#child_tokens`), protocol.NewToken()), chromedp.Click(chromedp.CSS(`[data-test=reserve]`)))
	b.expectText(north, `[data-test=flash]`, "Reserved: hold")
	b.act(north, "confirm", chromedp.Click(chromedp.CSS(`[data-test=confirm]`)))
	b.expectText(north, `[data-test=flash]`, "Match confirmed")
	b.act(north, "place", chromedp.Click(chromedp.CSS(`[data-test=place]`)))
	b.expectText(north, `[data-test=flash]`, "Placement recorded")

	// Finance: capital-raa (creditor) invoices; north-raa (debtor)
	// acknowledges and pays; capital-raa confirms receipt.
	capital, northFin := officer(), officer()
	b.run(capital, "creditor finance signs in", chromedp.Navigate(url(1, "/signin")), chromedp.Click(chromedp.CSS(`[data-test=dev-finance]`)), chromedp.WaitVisible(chromedp.CSS(`[data-test=owed]`)))
	b.waitText(capital, url(1, "/fees"), `[data-test=obligations-creditor]`, "north-raa")
	b.shot(capital, "06-fees-creditor")
	b.act(capital, "invoice", chromedp.Click(chromedp.CSS(`[data-test=invoice]`)))
	b.expectText(capital, `[data-test=flash]`, "invoice recorded")
	b.run(northFin, "debtor finance signs in", chromedp.Navigate(url(0, "/signin")), chromedp.Click(chromedp.CSS(`[data-test=dev-finance]`)), chromedp.WaitVisible(chromedp.CSS(`[data-test=owes]`)))
	b.waitText(northFin, url(0, "/fees"), `[data-test=obligations-debtor]`, "invoiced")
	b.act(northFin, "acknowledge", chromedp.Click(chromedp.CSS(`[data-test=acknowledge]`)))
	b.expectText(northFin, `[data-test=flash]`, "acknowledge recorded")
	b.act(northFin, "pay", chromedp.SendKeys(chromedp.CSS(`[data-test=obligations-debtor] input[name=reference]`), "BACSQX7KD2PLMZTA"),
		chromedp.Click(chromedp.CSS(`[data-test=pay]`)))
	b.expectText(northFin, `[data-test=flash]`, "pay recorded")
	b.shot(northFin, "07-fees-debtor")
	b.waitText(capital, url(1, "/fees"), `[data-test=obligations-creditor]`, "Confirm receipt")
	b.act(capital, "confirm receipt", chromedp.Click(chromedp.CSS(`[data-test=confirm-receipt]`)))
	b.expectText(capital, `[data-test=flash]`, "receipt confirmed")
	b.expectText(capital, `[data-test=obligations-creditor]`, "settled")
	b.shot(capital, "08-fees-settled")

	// Statement download (CSV) through the browser's download manager.
	dl := t.TempDir()
	dlCtx, dlCancel := context.WithTimeout(capital, browserStepTimeout)
	progress := chromedp.Events(dlCtx, browser.DownloadProgress) // subscribed before the click: no event lost
	b.run(capital, "download statement", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: chromedp.FromContext(capital).BrowserContextID,
			DownloadPath: dl, EventsEnabled: &[]bool{true}[0]})
		return err
	}), chromedp.Click(chromedp.CSS(`[data-test=statement]`)))
	var guid string
	for ev, err := range progress { // ends when dlCtx does
		if err != nil {
			break
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			guid = ev.GUID
			break
		}
	}
	dlCancel()
	csv, err := os.ReadFile(filepath.Join(dl, guid))
	if guid == "" || err != nil {
		t.Fatalf("statement download did not complete: %v", err)
	}
	if !strings.Contains(string(csv), "north-raa") || strings.Count(string(csv), "\n") < 2 {
		t.Errorf("statement CSV has no north-raa movement:\n%s", csv)
	}

	// Operator: the federation page.
	op := officer()
	b.run(op, "operator signs in", chromedp.Navigate(url(0, "/signin")), chromedp.Click(chromedp.CSS(`[data-test=dev-operator]`)), chromedp.WaitVisible(chromedp.CSS(`[data-test=leader]`)))
	if l := b.text(op, `[data-test=leader]`); l == "" || l == "none" {
		t.Errorf("federation page leader %q", l)
	}
	b.expectText(op, `[data-test=servers]`, "voter")
	b.shot(op, "09-federation")
}

// browserRun runs chromedp steps with a bounded time each and saves screenshots.
type browserRun struct {
	t     *testing.T
	shots string
}

func (b *browserRun) run(ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	c, cancel := context.WithTimeout(ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("main")||document.body).innerText`))
		b.t.Fatalf("%s: %v\n  at %s\n  page: %s", step, err, loc, body)
	}
}

// act runs actions that submit a form and waits for the page they lead
// to: a new document (the old one is marked first), fully loaded.
func (b *browserRun) act(ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.eval(ctx, `(window.raaftOld = "1")`)
	b.run(ctx, step, actions...)
	deadline := time.Now().Add(browserStepTimeout)
	for b.eval(ctx, `(window.raaftOld || "") + document.readyState`) != "complete" {
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: no new page within %v", step, browserStepTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eval evaluates a JavaScript expression giving a string.
func (b *browserRun) eval(ctx context.Context, expr string) string {
	b.t.Helper()
	c, cancel := context.WithTimeout(ctx, browserStepTimeout)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// text is the visible text of the first element sel matches, waiting for it.
func (b *browserRun) text(ctx context.Context, sel string) string {
	b.t.Helper()
	b.run(ctx, "wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(b.eval(ctx, fmt.Sprintf(`document.querySelector(%q).innerText`, sel)))
}

func (b *browserRun) expectText(ctx context.Context, sel, want string) {
	b.t.Helper()
	if got := b.text(ctx, sel); !strings.Contains(got, want) {
		b.t.Fatalf("%s says %q; want it to contain %q", sel, got, want)
	}
}

// waitText reloads page until sel contains want: another node's page
// shows a write once that node has applied it.
func (b *browserRun) waitText(ctx context.Context, page, sel, want string) {
	b.t.Helper()
	deadline := time.Now().Add(browserStepTimeout)
	var got string
	for time.Now().Before(deadline) {
		b.run(ctx, "load "+page, chromedp.Navigate(page), chromedp.WaitReady(chromedp.CSS("main")))
		got = b.eval(ctx, fmt.Sprintf(`(document.querySelector(%q)||{}).innerText||""`, sel))
		if strings.Contains(got, want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.t.Fatalf("%s at %s says %q; want it to contain %q", sel, page, got, want)
}

func (b *browserRun) shot(ctx context.Context, name string) {
	b.t.Helper()
	c, cancel := context.WithTimeout(ctx, browserStepTimeout)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// findChromium finds Debian's chromium (make test installs it).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("RAAFT_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium found: `make test` installs Debian's chromium (apt-get install chromium); or set RAAFT_CHROMIUM")
	return ""
}

// startDevUp runs `raaft dev up` as `make run` does and waits until it says the
// federation is running; cleanup interrupts it as Ctrl-C would.
func startDevUp(t *testing.T, bin, dir string, off int) {
	t.Helper()
	cmd := exec.Command(bin, "dev", "up", "--dir", dir, "--port-offset", strconv.Itoa(off))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	ready := make(chan struct{})
	running := ready
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "is running") && running != nil {
				close(running)
				running = nil
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(45 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("dev up did not stop within 45s of SIGINT")
		}
	})
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("dev up exited: %v\n%s", err, log.String())
	case <-time.After(devUpTimeout):
		t.Fatalf("dev up not running after %v", devUpTimeout)
	}
}
