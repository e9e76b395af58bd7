package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestReadmeDocumentsEveryKey is TestReadmeExample's converse: every key
// the configuration parses appears in the README's configuration block,
// so that no option exists only in the code.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(data), "\n## Configuration\n")
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	block, _, _ := strings.Cut(rest, "\n```")
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(block), &doc); err != nil || len(doc.Content) == 0 {
		t.Fatalf("README's configuration block: %v", err)
	}
	var missing []string
	walkKeys(reflect.TypeFor[Config](), doc.Content[0], "", &missing)
	for _, k := range missing {
		t.Errorf("key %s is parsed but not in the README's configuration block", k)
	}
}

// walkKeys records the yaml keys of t that node (a mapping, or a sequence
// whose first item is one) lacks. A documented empty list or map ("[]",
// "{}") stands for its items' keys, which the README gives in a comment.
func walkKeys(t reflect.Type, node *yaml.Node, prefix string, missing *[]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
		if node != nil && node.Kind == yaml.SequenceNode {
			if len(node.Content) == 0 {
				return
			}
			node = node.Content[0]
		}
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if strings.Contains(opts, "inline") || (f.Anonymous && tag == "") {
			walkKeys(f.Type, node, prefix, missing)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		child := lookup(node, name)
		if child == nil {
			*missing = append(*missing, prefix+name)
			continue
		}
		walkKeys(f.Type, child, prefix+name+".", missing)
	}
}

func lookup(node *yaml.Node, key string) *yaml.Node {
	if node == nil || node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1]
		}
	}
	return nil
}
