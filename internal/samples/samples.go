// Package samples locates the shared third-party test inputs that live
// beside the repository (../shared/samples), so tests can read them without
// copying them into the tree, and skip cleanly when they are absent.
package samples

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the samples directory (…/shared/samples) or skips the test
// when it cannot be found. WEFGATE_SAMPLES overrides the location.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("WEFGATE_SAMPLES"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Skipf("samples: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			s := filepath.Join(dir, "..", "shared", "samples")
			if _, err := os.Stat(s); err != nil {
				t.Skipf("shared samples not present at %s", s)
			}
			return s
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("samples: repository root not found")
		}
		dir = parent
	}
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
