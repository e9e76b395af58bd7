package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromium returns Debian's headless Chromium, or skips the test when it
// is missing, unless WEFGATE_REQUIRE_CHROMIUM=1 (set by make test).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("WEFGATE_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium not found and WEFGATE_REQUIRE_CHROMIUM=1: run scripts/install-test-deps.sh")
	}
	t.Skip("chromium not found (apt-get install chromium); set WEFGATE_REQUIRE_CHROMIUM=1 to fail instead")
	return ""
}

// runChromium runs one headless Chromium with a fresh profile and returns
// its standard output. It runs in its own process group, killed whole on
// timeout.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestStatusPageInChromium loads the admin status page in a real browser,
// checks what it shows, its state filter and its sorting, and keeps a
// screenshot (status-page.png in
// WEFGATE_TEST_ARTIFACTS, else in the test's temporary directory).
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	af := newAdminFixture(t)
	// Headless Chromium's --dump-dom and --screenshot need JavaScript
	// themselves, so the page is loaded with it on; that the page carries
	// none and loads nothing is checked on its DOM.
	dom := string(runChromium(t, bin, "--dump-dom", af.adminURL+"/"))
	for _, want := range []string{
		"wefgate status", "Spool", "pending deliveries", "Exporters", "file",
		"handle-manipulation", "quiet-subscription", "no hosts",
		"host1.example.test", "host2.example.test", "gone.example.test", "192.0.2.7", "127.0.0.1",
		`class="active">active`, `class="alive">alive`, `class="dead">dead`,
		"all (3)", "active (1)", "alive (1)", "dead (1)",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("status page lacks %q:\n%s", want, dom)
		}
	}
	for _, banned := range []string{"<script", "<link", " src="} {
		if strings.Contains(dom, banned) {
			t.Errorf("status page loads something (%q): it must stand alone", banned)
		}
	}
	// host1 is active with 4 events; its last batch is dated.
	row := rowOf(dom, "host1.example.test")
	for _, want := range []string{"active", "<td class=\"num\">4</td>", " ago</td>"} {
		if !strings.Contains(row, want) {
			t.Errorf("host1 row lacks %q: %s", want, row)
		}
	}

	dead := string(runChromium(t, bin, "--dump-dom", af.adminURL+"/?state=dead"))
	if !strings.Contains(dead, "gone.example.test") || strings.Contains(dead, "host1.example.test") {
		t.Error("?state=dead does not show exactly the dead host")
	}

	byEvents := string(runChromium(t, bin, "--dump-dom", af.adminURL+"/?sort=events&order=desc"))
	if !inOrder(byEvents, "gone.example.test", "host1.example.test", "host2.example.test") {
		t.Error("?sort=events&order=desc does not put 7, 4, 0 events in that order")
	}
	if !strings.Contains(byEvents, "Events</a> ▼") {
		t.Error("the sorted column is not marked")
	}

	shot := filepath.Join(artifactDir(t), "status-page.png")
	os.Remove(shot)
	runChromium(t, bin, "--window-size=1280,820", "--screenshot="+shot, af.adminURL+"/")
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10_000 {
		t.Fatalf("screenshot %s is not a rendered PNG (%d bytes)", shot, len(png))
	}
	t.Logf("screenshot: %s", shot)
}

// rowOf returns the table row that names identity.
func rowOf(dom, identity string) string {
	i := strings.Index(dom, "<td>"+identity+"</td>")
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(dom[:i], "<tr")
	end := strings.Index(dom[i:], "</tr>")
	if start < 0 || end < 0 {
		return ""
	}
	return dom[start : i+end]
}

// inOrder reports whether the strings appear in s in that order.
func inOrder(s string, subs ...string) bool {
	at := 0
	for _, sub := range subs {
		i := strings.Index(s[at:], sub)
		if i < 0 {
			return false
		}
		at += i + len(sub)
	}
	return true
}
