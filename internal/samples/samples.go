// Package samples locates the shared third-party test inputs that live
// beside the repository (../shared/samples), so tests can read them without
// copying them into the tree, and skip cleanly when they are absent.
package samples

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// ModuleRoot returns the directory holding go.mod, above the working
// directory (a test runs in its package directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Find returns the samples directory, or "" when it is absent.
// WEFGATE_SAMPLES overrides the location.
func Find() string {
	if d := os.Getenv("WEFGATE_SAMPLES"); d != "" {
		return d
	}
	root, err := ModuleRoot()
	if err != nil {
		return ""
	}
	s := filepath.Join(root, "..", "shared", "samples")
	if _, err := os.Stat(s); err != nil {
		return ""
	}
	return s
}

// Dir returns the samples directory (…/shared/samples) or skips the test
// when it cannot be found.
func Dir(t testing.TB) string {
	t.Helper()
	s := Find()
	if s == "" {
		t.Skip("shared samples not present beside the repository")
	}
	return s
}

// Path joins elem under Dir and skips the test when the file is absent.
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{Dir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("sample %s not present", p)
	}
	return p
}

// Read returns the content of a sample file, skipping when absent.
func Read(t testing.TB, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, elem...))
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	return b
}
