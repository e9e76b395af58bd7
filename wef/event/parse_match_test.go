package event

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// oracleSeeds returns inputs for the comparison with the old parser: the
// shared captures (whole files, and each event of the multi-event files)
// when present, and shapes that exercise every kind of token and damage.
func oracleSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	seeds := []string{
		event4690,
		renderedEvent(),
		"",
		"<",
		"<Event",
		"<Event/>",
		"<Event><System/></Event>",
		"<Event><System><EventID>1</EventID></System><EventData><Data Name='a'>&amp;&#x41;<![CDATA[x]]></Data></EventData><RenderingInfo Culture='en'><Message>m</Message><Keywords><Keyword>k</Keyword></Keywords></RenderingInfo></Event>",
		"<Event><System><EventID>1</EventID></System><UserData><X a='1'/></UserData></Event>",
		"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e \"]>\">]><Events><!-- c --><Event><System><EventID>1</EventID></System></Event></Events>",
		"<Event><System><EventID>1</EventID></Bad></System>\x00</Event>",
		"<Event><System><EventID>1</EventID><Comp\x00uter>c</Comp\x01uter></System></Event>",
		"<Event><System><EventID>1</EventID><A\x00><B></A\x01></System></Event>",
		"<Event><System><EventID>1</EventID><A\x00><B></C\x00></System></Event>",
		"<Event><System><Provider Name = \"a\tb&lt;\r\nc\" Guid=x EventSourceName/><EventID Qualifiers='16384'>7</EventID><Execution ProcessID=4 ThreadID='5'?><TimeCreated SystemTime='2021-03-26 16:36:00.829020'/></System></Event>",
		"<Event><System><EventID>\r\n 4690 <!-- x --></EventID><Keywords>0x<![CDATA[80]]>20000000000000</Keywords></System><EventData><Data>a\r\nb<?pi x?>&#13;&#10;&bogus;&#xD800;</Data><Binary>00</Binary></EventData></Event>",
		"<e:Event xmlns:e='x'><e:System><e:EventID>1</e:EventID></e:System><e:EventData><e:Data e:Name='n'>v</e:Data></e:EventData></e:Event>",
		"<Event><System><EventID>1</EventID></System><UserData><X>a</X><!-- c --></UserData></Event>",
		"<Event><System><EventID>1</EventID></System><UserData/><EventData><Data Name='a' Name='b'>x</Data></EventData></Event>",
		"<Event><System><EventID>1</EventID></System><EventData><Data>a]]>b</Data><Data><![CDATA[a]]]]><![CDATA[>]]></Data></EventData></Event>",
		"<Event><System><EventID>1</EventID></System></Event   ><Event><System><EventID>2</EventID></System></Event>",
		"<Event><System><EventID>1</EventID></System><RenderingInfo Culture=en><Message>m</Message><Keywords><Keyword>a</Keyword><Keyword/></Keywords>",
		"<Event><!x><System ><EventID >1</EventID ></ System></Event>",
		"<Event><System><EventID>1</EventID><Channel>a</Channel></System><EventData><Data Name='x'>1",
		"<Event><System><EventID>1</EventID></System><EventData><Data Name='x'><![CDATA[ab",
		"<Event><System><EventID>1</EventID></System><EventData><Data Name='x' a=",
		"<Event><System><EventID>1</EventID></System><EventData><Data Name='x' a",
		"<Event><System><EventID>1</EventID></System><EventData></EventData ",
		"<Event><System><EventID>1</EventID></System><!DOCTYPE \"a>\" [ > ] >",
		"<Event><System><EventID>1</EventID></System><!-- -- ->",
		"<Event><System><EventID>1</EventID></System></>< ></ ><Event/>",
	}
	var out [][]byte
	for _, s := range seeds {
		out = append(out, []byte(s))
	}
	root := samplesRoot()
	if root == "" {
		return out
	}
	var files []string
	for _, pattern := range []string{"wef/event*.xml", "handle-events/xml/*.xml"} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
		doc := string(b)
		for {
			i := strings.Index(doc, "<Event ")
			if i < 0 {
				break
			}
			j := strings.Index(doc[i:], "</Event>")
			if j < 0 {
				out = append(out, []byte(doc[i:]))
				break
			}
			out = append(out, []byte(doc[i:i+j+len("</Event>")]))
			doc = doc[i+j+len("</Event>"):]
		}
	}
	return out
}

func checkMatchesOracle(t *testing.T, raw []byte) {
	t.Helper()
	want := oracleParse(raw)
	got := Parse(raw)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(%q)\n got %+v\n     problem %+v rendering %+v\nwant %+v\n     problem %+v rendering %+v",
			raw, *got, got.Problem, got.Rendering, *want, want.Problem, want.Rendering)
	}
}

// TestParseMatchesOracle compares Parse with the parser it replaced on the
// seeds and on every prefix of each (every way an event can be cut).
func TestParseMatchesOracle(t *testing.T) {
	for _, raw := range oracleSeeds(t) {
		checkMatchesOracle(t, raw)
		if len(raw) > 20_000 {
			continue // the multi-event files: their events are seeds too
		}
		for cut := range len(raw) {
			checkMatchesOracle(t, raw[:cut])
		}
	}
}

// FuzzParseMatchesOracle checks that Parse returns exactly what the
// tdewolff-based parser it replaced returned, for any input: every field,
// the problem kind and its message.
func FuzzParseMatchesOracle(f *testing.F) {
	for _, raw := range oracleSeeds(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkMatchesOracle(t, raw)
	})
}

// BenchmarkParseVsOracle runs Parse and the parser it replaced in turns, a
// chunk of events each, in one process, and reports the time per event of
// each one's fastest chunk and their ratio (speedup = old/new): on a
// shared machine the fastest chunk is the one other processes disturbed
// least, and both parsers meet the same conditions.
func BenchmarkParseVsOracle(b *testing.B) {
	for _, bc := range []struct{ name, raw string }{
		{"4690-raw", event4690},
		{"4690-rendered", renderedEvent()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := []byte(bc.raw)
			const chunk = 100
			best := [2]time.Duration{math.MaxInt64, math.MaxInt64}
			for b.Loop() {
				for k, parse := range [2]func([]byte) *Event{oracleParse, Parse} {
					start := time.Now()
					for range chunk {
						parse(raw)
					}
					best[k] = min(best[k], time.Since(start))
				}
			}
			b.ReportMetric(float64(best[0].Nanoseconds())/chunk, "old-ns/event")
			b.ReportMetric(float64(best[1].Nanoseconds())/chunk, "new-ns/event")
			b.ReportMetric(float64(best[0])/float64(best[1]), "speedup")
		})
	}
}
