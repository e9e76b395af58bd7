package subscriptions

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxQueryChannels is the number of channels (Select/Suppress paths) a
// Windows forwarder accepts in one subscription query (256, as OpenWEC
// documents Windows' limit).
const maxQueryChannels = 256

// checkQuery verifies a subscription's <QueryList> before it is offered to
// hosts: the document must be well-formed XML shaped as the Windows event
// query schema (QueryList → Query → Select/Suppress, each with a Path, and
// at most 256 distinct channels), and each XPath must be lexically balanced
// (brackets, parentheses, quotes); a Select/Suppress without a Path takes
// its Query's. A forwarder that receives a query it
// cannot compile fails the subscription on its side and reports it only in
// its own Eventlog-ForwardingPlugin log, so the collector is the one place
// an administrator of the whole fleet can see the mistake.
//
// It does not compile the XPath: Windows accepts a subset of XPath 1.0
// (Microsoft, "Consuming Events": XPath 1.0 limitations) that only the
// forwarder's own compiler knows exactly.
func checkQuery(query string) error {
	dec := xml.NewDecoder(strings.NewReader(query))
	var (
		path     []string
		channels = map[string]bool{}
		selector string
		// queryPath is the Path of the enclosing Query, the default of
		// its Select and Suppress elements.
		queryPath string
		text      strings.Builder
		sawRoot   bool
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			parent := ""
			if len(path) > 0 {
				parent = path[len(path)-1]
			}
			switch {
			case len(path) == 0 && name == "QueryList" && !sawRoot:
				sawRoot = true
			case parent == "QueryList" && name == "Query":
				queryPath = attr(t, "Path")
			case parent == "Query" && (name == "Select" || name == "Suppress"):
				// A Select or Suppress without a Path reads the channel of
				// its Query (Microsoft, "QueryList schema": Path is
				// optional on both).
				p := attr(t, "Path")
				if p == "" {
					p = queryPath
				}
				if p == "" {
					return fmt.Errorf("<%s> without a Path (the channel), in a <Query> without one", name)
				}
				channels[strings.ToLower(p)] = true
				selector = name
				text.Reset()
			default:
				where := "the document"
				if parent != "" {
					where = "<" + parent + ">"
				}
				return fmt.Errorf("unexpected <%s> in %s (expected QueryList → Query → Select/Suppress)", name, where)
			}
			path = append(path, name)
		case xml.EndElement:
			if selector != "" && t.Name.Local == selector {
				if err := checkXPath(text.String()); err != nil {
					return fmt.Errorf("<%s> XPath %q: %w", selector, strings.TrimSpace(text.String()), err)
				}
				selector = ""
			}
			path = path[:len(path)-1]
		case xml.CharData:
			switch {
			case selector != "":
				text.Write(t)
			case strings.TrimSpace(string(t)) == "":
			case len(path) == 0:
				return errors.New("not a <QueryList> document")
			default:
				return fmt.Errorf("text %q outside a Select or Suppress", strings.TrimSpace(string(t)))
			}
		}
	}
	if !sawRoot {
		return errors.New("not a <QueryList> document")
	}
	if len(channels) == 0 {
		return errors.New("selects no channel")
	}
	if len(channels) > maxQueryChannels {
		return fmt.Errorf("names %d channels; Windows accepts at most %d", len(channels), maxQueryChannels)
	}
	return nil
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// checkXPath reports an empty expression, unbalanced brackets or
// parentheses, and unterminated string literals (XPath 1.0 §3.7 lexical
// structure: literals are quoted with ' or " and contain no such quote).
func checkXPath(x string) error {
	x = strings.TrimSpace(x)
	if x == "" {
		return errors.New("empty")
	}
	var stack []byte
	var at []int // offsets of the open brackets
	for i := 0; i < len(x); i++ {
		switch c := x[i]; c {
		case '\'', '"':
			end := strings.IndexByte(x[i+1:], c)
			if end < 0 {
				return fmt.Errorf("unterminated string literal at offset %d", i)
			}
			i += end + 1
		case '[', '(':
			stack, at = append(stack, c), append(at, i)
		case ']', ')':
			open := byte('[')
			if c == ')' {
				open = '('
			}
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return fmt.Errorf("unbalanced %q at offset %d", c, i)
			}
			stack, at = stack[:len(stack)-1], at[:len(at)-1]
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("unclosed %q at offset %d", stack[len(stack)-1], at[len(at)-1])
	}
	return nil
}
