package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/herald-dev/herald/sentryhook"
)

// browserStep bounds every single wait of a browser test: a page load, an
// element appearing, a live region updating. Nothing waits without one.
const browserStep = 20 * time.Second

// chromiumNames are the executables a browser test looks for on PATH, after
// HERALD_TEST_CHROMIUM: Debian's chromium first.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"}

// chromiumPath returns the Chromium to drive, or skips the test when there
// is none; under CI=true (where .ci/run installs Debian's chromium) a
// missing Chromium fails the test instead.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HERALD_TEST_CHROMIUM"); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("HERALD_TEST_CHROMIUM=%s: %v", p, err)
		}
		return found
	}
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const hint = "no Chromium found (looked for HERALD_TEST_CHROMIUM, then %s on PATH): " +
		"install it with apt-get install chromium (bash .ci/run does)"
	if os.Getenv("CI") == "true" {
		t.Fatalf(hint, strings.Join(chromiumNames, ", "))
	}
	t.Skipf(hint, strings.Join(chromiumNames, ", "))
	return ""
}

// browser is one headless Chromium tab driven through a dashboard the way
// a person would: it opens paths, clicks links and buttons by their
// labels and fills inputs by their names. Every method fails the test on
// error or after browserStep.
type browser struct {
	t *testing.T
	// ctx is the tab's context.
	ctx context.Context
	// base is the server's URL ("http://127.0.0.1:41234").
	base string
	// shots is the folder screenshots are saved to; "" saves none.
	shots string

	mu sync.Mutex
	// offsite are the URLs the page asked for outside loopback.
	offsite []string
	// problems are JavaScript exceptions and Content-Security-Policy
	// violations the pages caused.
	problems []string
}

// newBrowser starts a headless Chromium (closed when the test ends) whose
// tab is 1280x900 and reaches only loopback: every host name resolves to
// nothing, and every request the page makes is checked to be to a
// loopback address (see check).
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	exe := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // containers run as root, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("no-zygote", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		// Host names resolve to nothing (the tests use 127.0.0.1 only),
		// so no page can reach out, whatever it links to.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("lang", "en-US"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// chromedp's own log of protocol messages it does not know (a newer
	// Chromium's) is noise to a test; failures come back as errors.
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, base: base, shots: os.Getenv("HERALD_SCREENSHOTS")}
	if b.shots != "" {
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatalf("HERALD_SCREENSHOTS: %v", err)
		}
	}
	// The first action starts the browser, which lives as long as the
	// context of that action: the tab's own, stopped if it takes too long.
	stop := time.AfterFunc(browserStep, cancelTab)
	err := chromedp.Do(ctx, chromedp.Navigate("about:blank"))
	if !stop.Stop() {
		err = fmt.Errorf("not started within %s", browserStep)
	}
	if err != nil {
		t.Fatalf("start Chromium %s: %v", exe, err)
	}

	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	exceptions := chromedp.Events(ctx, cdpruntime.ExceptionThrown)
	logs := chromedp.Events(ctx, cdplog.EntryAdded)
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			if ev.Request != nil && !loopbackURL(ev.Request.URL) {
				b.mu.Lock()
				b.offsite = append(b.offsite, ev.Request.URL)
				b.mu.Unlock()
			}
		}
	}()
	// The dashboard asks before some changes (data-confirm): a person
	// clicking through says yes.
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			msg := "exception"
			if d := ev.ExceptionDetails; d != nil {
				msg = d.Text
				if d.Exception != nil && d.Exception.Description != "" {
					msg += " " + d.Exception.Description
				}
			}
			b.mu.Lock()
			b.problems = append(b.problems, "JavaScript: "+msg)
			b.mu.Unlock()
		}
	}()
	go func() {
		for ev, err := range logs {
			if err != nil {
				return
			}
			if e := ev.Entry; e != nil && strings.Contains(e.Text, "Content Security Policy") {
				b.mu.Lock()
				b.problems = append(b.problems, "CSP: "+e.Text+" ("+e.URL+")")
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// loopbackURL reports whether u is a page-internal URL (data:, about:,
// blob:) or one whose host is a loopback IP address.
func loopbackURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	switch p.Scheme {
	case "data", "about", "blob", "chrome-error":
		return true
	}
	ip := net.ParseIP(p.Hostname())
	return ip != nil && ip.IsLoopback()
}

// check fails the test if a page asked for anything outside loopback, threw
// a JavaScript exception or broke the Content-Security-Policy.
func (b *browser) check() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.offsite) > 0 {
		b.t.Errorf("the browser asked for addresses outside loopback: %v", b.offsite)
	}
	if len(b.problems) > 0 {
		b.t.Errorf("the pages had problems:\n%s", strings.Join(b.problems, "\n"))
	}
}

// run runs steps within browserStep, failing the test with what on error.
func (b *browser) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\n(at %s)", what, err, b.location())
	}
}

// eval evaluates a JavaScript expression in the page and returns its
// value, decoded into a T.
func eval[T any](b *browser, what, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %v\n(at %s)", what, err, b.location())
	}
	return v
}

// location is the page's URL, for messages; "" when it cannot be read.
func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// path is the path and query of the page's URL.
func (b *browser) path() string {
	b.t.Helper()
	u, err := url.Parse(b.location())
	if err != nil {
		b.t.Fatalf("location: %v", err)
	}
	return u.RequestURI()
}

// load runs steps that load a page (a click on a link or a submit button,
// or a navigation), waits for it and returns its status code.
func (b *browser) load(what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s: %v\n(at %s)", what, err, b.location())
	}
	return resp.Status
}

// navigate is load for a page that must answer 2xx (a 201 shows what a
// form created): it fails the test otherwise, showing the page's text.
func (b *browser) navigate(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if status := b.load(what, steps...); status < 200 || status > 299 {
		b.t.Fatalf("%s: %s answered %d:\n%s", what, b.location(), status, b.text())
	}
}

// open loads path (relative to the server, or an absolute URL) and
// expects a 2xx.
func (b *browser) open(path string) {
	b.t.Helper()
	b.navigate("open "+path, chromedp.Navigate(b.url(path)))
}

// status loads path and returns its status code.
func (b *browser) status(path string) int64 {
	b.t.Helper()
	return b.load("open "+path, chromedp.Navigate(b.url(path)))
}

// url is path made absolute on the server; absolute URLs stay as they are.
func (b *browser) url(path string) string {
	if strings.HasPrefix(path, "/") {
		return b.base + path
	}
	return path
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// control returns a selector of the first visible element of the page that
// matches css and whose label (its text, or its value for an input) is
// label, or contains it when exact is false.
func control(css, label string, exact bool) chromedp.JSPath {
	return chromedp.JSPath(fmt.Sprintf(`(() => {
  const want = %s, exact = %t;
  const norm = (s) => (s || "").replace(/\s+/g, " ").trim();
  for (const e of document.querySelectorAll(%s)) {
    const text = norm(e.tagName === "INPUT" ? e.value : e.textContent);
    if (exact ? text !== want : !text.includes(want)) continue;
    if (e.getClientRects().length === 0) continue;
    return e;
  }
  return null;
})()`, jsString(label), exact, jsString(css)))
}

// clickables are the elements a person clicks to go somewhere or to send a
// form.
const clickables = `a[href], button, input[type=submit], summary`

// follow clicks the link or button labelled exactly label and waits for
// the page it leads to.
func (b *browser) follow(label string) {
	b.t.Helper()
	b.navigate("click "+label, chromedp.Click(control(clickables, label, true)))
}

// followContaining clicks the first link or button whose label contains
// text and waits for the page it leads to.
func (b *browser) followContaining(text string) {
	b.t.Helper()
	b.navigate("click the link with "+text, chromedp.Click(control(clickables, text, false)))
}

// fill types value into the input or textarea named name.
func (b *browser) fill(name, value string) {
	b.t.Helper()
	sel := chromedp.CSS(fmt.Sprintf(`input[name=%q], textarea[name=%q]`, name, name))
	b.run("fill "+name, chromedp.Clear(sel), chromedp.SendKeys(sel, value))
}

// tick checks the checkbox named name with value value, clicking it as a
// person would when it is not checked yet.
func (b *browser) tick(name, value string) {
	b.t.Helper()
	sel := chromedp.CSS(fmt.Sprintf(`input[type=checkbox][name=%q][value=%q]`, name, value))
	checked := eval[bool](b, "read checkbox "+name+"="+value, fmt.Sprintf(
		`(() => { const e = document.querySelector(%s); return e ? e.checked : false; })()`,
		jsString(fmt.Sprintf(`input[type=checkbox][name=%q][value=%q]`, name, value))))
	if !checked {
		b.run("tick "+name+"="+value, chromedp.Click(sel))
	}
	if !eval[bool](b, "read checkbox", fmt.Sprintf(`document.querySelector(%s).checked`,
		jsString(fmt.Sprintf(`input[type=checkbox][name=%q][value=%q]`, name, value)))) {
		b.t.Fatalf("checkbox %s=%s is not checked after a click", name, value)
	}
}

// choose selects the option valued value of the select named name.
func (b *browser) choose(name, value string) {
	b.t.Helper()
	sel := chromedp.CSS(fmt.Sprintf(`select[name=%q]`, name))
	b.run("choose "+name+"="+value, chromedp.SetValue(sel, value))
	if got := eval[string](b, "read "+name, fmt.Sprintf(`document.querySelector(%s).value`,
		jsString(fmt.Sprintf(`select[name=%q]`, name)))); got != value {
		b.t.Fatalf("select %s has no option %q (it shows %q)", name, value, got)
	}
}

// cookies returns the browser's cookies.
func (b *browser) cookies() []*network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		b.t.Fatalf("read the cookies: %v", err)
	}
	return res.Cookies
}

// setCookies puts cookies back in the browser, as someone who kept them
// would.
func (b *browser) setCookies(cookies []*network.Cookie) {
	b.t.Helper()
	var params []*network.CookieParam
	for _, c := range cookies {
		params = append(params, &network.CookieParam{Name: c.Name, Value: c.Value, URL: b.base + c.Path,
			Path: c.Path, HTTPOnly: c.HTTPOnly, Secure: c.Secure, SameSite: c.SameSite})
	}
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.SetCookies, network.SetCookiesParams{Cookies: params}); err != nil {
		b.t.Fatalf("set the cookies: %v", err)
	}
}

// has reports whether the page has an element matching css.
func (b *browser) has(css string) bool {
	b.t.Helper()
	return eval[bool](b, "look for "+css, fmt.Sprintf(`document.querySelector(%s) !== null`, jsString(css)))
}

// text is what the page shows, with the values of its inputs in place
// (a secret is often shown in a read-only input for copying).
func (b *browser) text() string {
	b.t.Helper()
	return eval[string](b, "read the page", `(() => {
  const out = [];
  const walk = (n) => {
    if (n.nodeType === Node.TEXT_NODE) { out.push(n.textContent); return; }
    if (n.nodeType !== Node.ELEMENT_NODE) return;
    const tag = n.tagName;
    if (tag === "SCRIPT" || tag === "STYLE" || tag === "TEMPLATE") return;
    if (tag === "INPUT" && n.type === "hidden") return;
    if ((tag === "INPUT" || tag === "TEXTAREA") && n.value) { out.push(" " + n.value + " "); return; }
    for (const c of n.childNodes) walk(c);
    if (getComputedStyle(n).display !== "inline") out.push("\n");
  };
  walk(document.body);
  return out.join("").replace(/[ \t]+/g, " ");
})()`)
}

// mustShow fails the test unless the page shows every one of texts.
func (b *browser) mustShow(texts ...string) {
	b.t.Helper()
	page := b.text()
	for _, s := range texts {
		if !strings.Contains(page, s) {
			b.t.Fatalf("%s does not show %q:\n%s", b.path(), s, page)
		}
	}
}

// waitFor waits, without reloading the page, until expr is true in it.
func (b *browser) waitFor(what, expr string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		b.t.Fatalf("%s within %s: %v\n(at %s)\n%s", what, timeout, err, b.location(), b.text())
	}
}

// shot saves a full-page PNG of the page as name.png in the screenshots
// folder, when there is one.
func (b *browser) shot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// phone shows the page as a phone 390 px wide while f runs, then as
// before.
func (b *browser) phone(f func()) {
	b.t.Helper()
	b.run("emulate a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	defer b.run("stop emulating a phone", chromedp.ResetViewport())
	f()
}

// hex64After finds a 64-hex-digit value that follows label (case-insensitive)
// in text, as a secret shown on a page does.
func hex64After(text, label string) string {
	re := regexp.MustCompile(`(?is)` + regexp.QuoteMeta(label) + `.{0,300}?\b([0-9a-f]{64})\b`)
	if m := re.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// inbox is a loopback webhook receiver that keeps every request it gets,
// answering 200; deliveries are verified when a test reads them, since a
// secret is only known once the page shows it.
type inbox struct {
	*httptest.Server
	mu     sync.Mutex
	got    []inboxRequest
	notify chan struct{}
}

// inboxRequest is one request an inbox got.
type inboxRequest struct {
	Path   string
	Header http.Header
	Body   []byte
}

// newInbox starts an inbox on 127.0.0.1, closed when the test ends.
func newInbox(t *testing.T) *inbox {
	t.Helper()
	in := &inbox{notify: make(chan struct{}, 1)}
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := sentryhook.ReadBody(r, 1<<20)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		in.mu.Lock()
		in.got = append(in.got, inboxRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		in.mu.Unlock()
		select {
		case in.notify <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(in.Close)
	return in
}

// hookDelivery is one webhook an inbox got, verified and parsed.
type hookDelivery struct {
	*sentryhook.Delivery
	// Signature is the request's signature header.
	Signature string
	// N is the delivery's index among the inbox's requests.
	N int
}

// next waits until the inbox has received, after its first skip requests,
// a request to path for event (such as "issue.created") and returns it.
// Every request to path it reads must carry a signature that verifies
// with secret, checked as a receiver does, with sentryhook.
func (in *inbox) next(t *testing.T, skip int, path, event, secret string) hookDelivery {
	t.Helper()
	deadline := time.After(browserStep)
	for {
		in.mu.Lock()
		got := append([]inboxRequest(nil), in.got...)
		in.mu.Unlock()
		for i := skip; i < len(got); i++ {
			g := got[i]
			if g.Path != path {
				continue
			}
			if err := sentryhook.VerifyHeader(g.Header, g.Body, secret); err != nil {
				t.Fatalf("delivery %d to %s does not verify with the secret the page showed: %v", i, path, err)
			}
			d, err := sentryhook.Parse(g.Header, g.Body)
			if err != nil {
				t.Fatalf("delivery %d to %s: %v", i, path, err)
			}
			if d.Event() == event {
				sig, _, err := sentryhook.Signature(g.Header)
				if err != nil {
					t.Fatal(err)
				}
				return hookDelivery{Delivery: d, Signature: sig, N: i}
			}
		}
		select {
		case <-in.notify:
		case <-deadline:
			var seen []string
			for _, g := range got {
				d, err := sentryhook.Parse(g.Header, g.Body)
				if err == nil {
					seen = append(seen, g.Path+" "+d.Event())
				}
			}
			t.Fatalf("no %s delivery to %s within %s (received: %v)", event, path, browserStep, seen)
		}
	}
}
