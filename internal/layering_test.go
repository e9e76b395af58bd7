// Package internal_test checks the import graph of the whole module, so
// that the layering README describes stays true.
package internal_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/build"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// forbiddenUnderWEF are the folders no package under wef/ may reach, even
// indirectly: the protocol side declares interfaces and the assembly wires
// these in.
var forbiddenUnderWEF = []string{"pipeline", "subscriptions", "handles", "exporters", "spool"}

type goPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// listModule returns the module path and its packages, as `go list -json`
// reports them.
func listModule(t *testing.T) (string, map[string]goPackage) {
	t.Helper()
	// The go on PATH is what make and developers run; else the toolchain
	// this test was built with.
	goBin := filepath.Join(build.Default.GOROOT, "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		goBin = p
	}
	mod, err := exec.Command(goBin, "list", "-m").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	module := strings.TrimSpace(string(mod))
	cmd := exec.Command(goBin, "list", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -json: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]goPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return module, pkgs
}

// unit is the layering unit of a package path inside the module: its
// top-level folder, or for internal/ and cmd/ (which hold unrelated
// programs and helpers) the folder below them.
func unit(rel string) string {
	parts := strings.Split(rel, "/")
	if (parts[0] == "internal" || parts[0] == "cmd") && len(parts) > 1 {
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

func TestWEFImportsNoUpperLayer(t *testing.T) {
	module, pkgs := listModule(t)
	prefix := module + "/"
	forbidden := func(path string) bool {
		rel, ok := strings.CutPrefix(path, prefix)
		return ok && slices.Contains(forbiddenUnderWEF, strings.Split(rel, "/")[0])
	}
	// deps is the transitive non-test closure of a package inside the module.
	var deps func(path string, seen map[string]string, via string)
	deps = func(path string, seen map[string]string, via string) {
		for _, imp := range pkgs[path].Imports {
			if _, ok := seen[imp]; ok || !strings.HasPrefix(imp, prefix) {
				continue
			}
			seen[imp] = via
			deps(imp, seen, via)
		}
	}
	for path, p := range pkgs {
		if !strings.HasPrefix(path, prefix+"wef/") {
			continue
		}
		seen := map[string]string{}
		for _, imp := range append(append(slices.Clone(p.Imports), p.TestImports...), p.XTestImports...) {
			if strings.HasPrefix(imp, prefix) {
				seen[imp] = imp
				deps(imp, seen, imp)
			}
		}
		for dep, via := range seen {
			if forbidden(dep) {
				t.Errorf("%s imports %s (through %s); wef/ must not depend on %v", path, dep, via, forbiddenUnderWEF)
			}
		}
	}
}

func TestNoTwoFoldersImportEachOther(t *testing.T) {
	module, pkgs := listModule(t)
	prefix := module + "/"
	// edges[a][b] is one package of a importing one of b.
	edges := map[string]map[string]string{}
	for path, p := range pkgs {
		rel, ok := strings.CutPrefix(path, prefix)
		if !ok {
			continue // the module root package, if any, is the top
		}
		from := unit(rel)
		for _, imp := range append(append(slices.Clone(p.Imports), p.TestImports...), p.XTestImports...) {
			irel, ok := strings.CutPrefix(imp, prefix)
			if !ok {
				continue
			}
			to := unit(irel)
			if to == from {
				continue
			}
			if edges[from] == nil {
				edges[from] = map[string]string{}
			}
			edges[from][to] = path + " -> " + imp
		}
	}
	var bad []string
	for a, tos := range edges {
		for b, why := range tos {
			if back, ok := edges[b][a]; ok && a < b {
				bad = append(bad, a+" <-> "+b+": "+why+" and "+back)
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("folders import each other: %s", b)
	}
}

// TestFoldersFormNoCycle extends TestNoTwoFoldersImportEachOther to longer
// loops (a imports b, b imports c, c imports a): the folders must form a
// layered graph, so that each can be read knowing only those below it.
func TestFoldersFormNoCycle(t *testing.T) {
	module, pkgs := listModule(t)
	prefix := module + "/"
	edges := map[string]map[string]string{}
	for path, p := range pkgs {
		rel, ok := strings.CutPrefix(path, prefix)
		if !ok {
			continue
		}
		from := unit(rel)
		for _, imp := range append(append(slices.Clone(p.Imports), p.TestImports...), p.XTestImports...) {
			irel, ok := strings.CutPrefix(imp, prefix)
			if !ok || unit(irel) == from {
				continue
			}
			if edges[from] == nil {
				edges[from] = map[string]string{}
			}
			edges[from][unit(irel)] = path + " -> " + imp
		}
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(u string)
	visit = func(u string) {
		state[u] = onPath
		path = append(path, u)
		tos := make([]string, 0, len(edges[u]))
		for v := range edges[u] {
			tos = append(tos, v)
		}
		sort.Strings(tos)
		for _, v := range tos {
			switch state[v] {
			case onPath:
				loop := append(slices.Clone(path[slices.Index(path, v):]), v)
				var why []string
				for i := 0; i+1 < len(loop); i++ {
					why = append(why, edges[loop[i]][loop[i+1]])
				}
				t.Errorf("folders import each other in a loop %s: %s", strings.Join(loop, " -> "), strings.Join(why, "; "))
			case unseen:
				visit(v)
			}
		}
		path = path[:len(path)-1]
		state[u] = done
	}
	units := make([]string, 0, len(edges))
	for u := range edges {
		units = append(units, u)
	}
	sort.Strings(units)
	for _, u := range units {
		if state[u] == unseen {
			visit(u)
		}
	}
}
