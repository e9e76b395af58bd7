package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// tool returns the path of a program the test needs, or skips when it is
// missing unless WEFGATE_REQUIRE_SYSTEMD=1 (set by make test).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("WEFGATE_REQUIRE_SYSTEMD") == "1" {
		t.Fatalf("%s not found and WEFGATE_REQUIRE_SYSTEMD=1: run scripts/install-test-deps.sh", name)
	}
	t.Skipf("%s not found (apt-get install systemd make); set WEFGATE_REQUIRE_SYSTEMD=1 to fail instead", name)
	return ""
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = ".."
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestInstallAndVerifyUnit installs into a temporary prefix, so that the
// unit names paths that exist, and has systemd-analyze verify it (any
// message, an unknown key included, fails) and rate its exposure.
func TestInstallAndVerifyUnit(t *testing.T) {
	mk, analyze := tool(t, "make"), tool(t, "systemd-analyze")
	root := t.TempDir()
	prefix, sysconf := filepath.Join(root, "usr"), filepath.Join(root, "etc")
	// BIN in the temporary directory: make test runs the end-to-end tests
	// from bin/wefgate at the same time, which must not be rewritten.
	run(t, mk, "-s", "install", "BIN="+filepath.Join(root, "build/wefgate"), "PREFIX="+prefix, "SYSCONFDIR="+sysconf)
	unit := filepath.Join(prefix, "lib/systemd/system/wefgate.service")
	for _, f := range []string{filepath.Join(prefix, "bin/wefgate"), unit, filepath.Join(prefix, "lib/sysusers.d/wefgate.conf"), filepath.Join(sysconf, "wefgate/wefgate.yaml")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("make install did not write %s: %v", f, err)
		}
	}
	text, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"User=wefgate", "ProtectSystem=strict", "StateDirectory=wefgate", "ExecReload=/bin/kill -HUP $MAINPID",
		"ExecStart=" + prefix + "/bin/wefgate run -config " + sysconf + "/wefgate/wefgate.yaml",
	} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if bytes.Contains(text, []byte("@")) && regexp.MustCompile(`@[A-Z]+@`).Match(text) {
		t.Error("unit has an unsubstituted @VARIABLE@")
	}

	cmd := exec.Command(analyze, "verify", unit)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The exposure score (0 safest, 10 unprotected); "OK" is below 2.
	out, err = exec.Command(analyze, "security", "--offline=yes", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for wefgate\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0 (OK):\n%s", score, out)
	}

	// The installed configuration is valid as shipped.
	run(t, filepath.Join(prefix, "bin/wefgate"), "check-config", "-config", filepath.Join(sysconf, "wefgate/wefgate.yaml"))
}

// TestInstallDestDir stages an installation as a package build does: files
// under DESTDIR, paths inside them without it; an existing configuration
// file is kept.
func TestInstallDestDir(t *testing.T) {
	mk := tool(t, "make")
	dest := t.TempDir()
	conf := filepath.Join(dest, "etc/wefgate/wefgate.yaml")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("# mine\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	run(t, mk, "-s", "install", "BIN="+filepath.Join(t.TempDir(), "wefgate"), "DESTDIR="+dest, "PREFIX=/usr")
	text, err := os.ReadFile(filepath.Join(dest, "usr/lib/systemd/system/wefgate.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(text, []byte("ExecStart=/usr/bin/wefgate run -config /etc/wefgate/wefgate.yaml")) || bytes.Contains(text, []byte(dest)) {
		t.Errorf("unit paths are not the installed ones:\n%s", text)
	}
	if _, err := os.Stat(filepath.Join(dest, "usr/bin/wefgate")); err != nil {
		t.Error(err)
	}
	if b, _ := os.ReadFile(conf); string(b) != "# mine\n" {
		t.Error("make install replaced an existing configuration file")
	}
}
