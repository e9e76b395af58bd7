// Package eventfile reads Windows event files into event XML strings, for
// the forwarder simulator and tests. It understands XML exports (an
// <Events> document, a single <Event>, or <Event> elements one after the
// other) and JSON lines, which it turns into the XML a Windows forwarder
// would send. The JSON shapes read are: nxlog im_msvistalog and OTRF
// (Mordor) datasets, with the event data flattened to top-level keys or
// under EventData; winlogbeat 6.x (System fields and event_data at the top
// level, record_number, keyword names); winlogbeat 7.x, 8.x and 9.x
// (System fields and event_data under winlog, ECS event.code). Generate
// makes synthetic Security events for load tests.
package eventfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/xml"
	"golang.org/x/text/encoding/unicode"
)

// Format is the layout of an event file.
type Format int

const (
	// FormatAuto detects the format from the first non-space byte: '<'
	// for XML, '{' for JSON lines.
	FormatAuto Format = iota
	// FormatXML is an <Events> document, one <Event> document, or <Event>
	// elements one after the other.
	FormatXML
	// FormatJSONLines is one flattened JSON event per line.
	FormatJSONLines
)

func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatXML:
		return "xml"
	case FormatJSONLines:
		return "jsonl"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ReadFile reads the event file at path, detecting its format, and returns
// one event XML string per event in file order.
func ReadFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eventfile: %w", err)
	}
	defer f.Close()
	events, err := Read(f, FormatAuto)
	if err != nil {
		return nil, fmt.Errorf("eventfile: %s: %w", path, err)
	}
	return events, nil
}

// Read reads events in the given format from r and returns one event XML
// string per event in input order. UTF-16 input with a byte order mark is
// accepted.
func Read(r io.Reader, format Format) ([]string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	data, err = toUTF8(data)
	if err != nil {
		return nil, err
	}
	if format == FormatAuto {
		format, err = detect(data)
		if err != nil {
			return nil, err
		}
	}
	switch format {
	case FormatXML:
		return splitXML(data)
	case FormatJSONLines:
		return readJSONLines(data)
	}
	return nil, fmt.Errorf("unknown event file format %v", format)
}

var errEmpty = errors.New("no events: input is empty")

// toUTF8 decodes UTF-16 input marked by a byte order mark and strips a
// UTF-8 one.
func toUTF8(data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
		out, err := dec.Bytes(data)
		if err != nil {
			return nil, fmt.Errorf("decode UTF-16: %w", err)
		}
		return out, nil
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:], nil
	}
	return data, nil
}

func detect(data []byte) (Format, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return FormatAuto, errEmpty
	}
	switch trimmed[0] {
	case '<':
		return FormatXML, nil
	case '{':
		return FormatJSONLines, nil
	}
	return FormatAuto, fmt.Errorf("unknown event file format: starts with %q", trimmed[0])
}

// splitXML returns the text of every outermost <Event> element, verbatim.
// Elements around them (an <Events> root), the XML declaration, comments
// and whitespace are dropped.
func splitXML(data []byte) ([]string, error) {
	// The lexer rewrites whitespace in attribute values and needs a NUL
	// after the input, so it reads a copy; events are cut from data.
	buf := make([]byte, len(data), len(data)+1)
	copy(buf, data)
	in := parse.NewInputBytes(buf)
	lex := xml.NewLexer(in)

	var (
		events []string
		depth  int // open elements inside the current Event, itself included
		start  int
	)
	for {
		tt, tok := lex.Next()
		end := in.Offset()
		switch tt {
		case xml.ErrorToken:
			if err := lex.Err(); err != nil && err != io.EOF {
				return nil, fmt.Errorf("lex XML at byte %d: %w", end, err)
			}
			if depth > 0 {
				return nil, fmt.Errorf("unterminated <Event> starting at byte %d", start)
			}
			if len(events) == 0 {
				return nil, errors.New("no <Event> element found")
			}
			return events, nil
		case xml.StartTagToken:
			if depth > 0 {
				depth++
			} else if isEventTag(lex.Text()) {
				depth, start = 1, end-len(tok)
			}
		case xml.StartTagCloseVoidToken:
			if depth > 0 {
				depth--
				if depth == 0 {
					events = append(events, string(data[start:end]))
				}
			}
		case xml.EndTagToken:
			if depth > 0 {
				depth--
				if depth == 0 {
					events = append(events, string(data[start:end]))
				}
			}
		}
	}
}

func isEventTag(name []byte) bool {
	if i := bytes.LastIndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	return string(name) == "Event"
}

// lines calls fn for each non-blank line of data with its 1-based number.
func lines(data []byte, fn func(n int, line []byte) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read line %d: %w", n+1, err)
	}
	return nil
}
