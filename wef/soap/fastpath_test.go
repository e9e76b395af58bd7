package soap

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// refDecodeUTF16LE and refEnvelopeSize are the one-unit-at-a-time
// definitions; the word-at-a-time fast paths must agree with them on every
// input.
func refDecodeUTF16LE(b []byte) ([]byte, int) {
	replaced := 0
	if len(b)%2 == 1 {
		b = b[:len(b)-1]
		replaced++
	}
	var out []byte
	for i := 0; i+1 < len(b); i += 2 {
		u := rune(b[i]) | rune(b[i+1])<<8
		if utf16.IsSurrogate(u) {
			if u < 0xDC00 && i+3 < len(b) {
				if r := utf16.DecodeRune(u, rune(b[i+2])|rune(b[i+3])<<8); r != utf8.RuneError {
					out = utf8.AppendRune(out, r)
					i += 2
					continue
				}
			}
			replaced++
			u = utf8.RuneError
		}
		out = utf8.AppendRune(out, u)
	}
	return out, replaced
}

func refEnvelopeSize(text []byte) int {
	n := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		if r > 0xFFFF {
			n += 2
		} else {
			n++
		}
		i += size
	}
	return n
}

func FuzzFastPaths(f *testing.F) {
	f.Add([]byte("<s:Envelope>abcdefgh</s:Envelope>"))
	f.Add(EncodeUTF16LE([]byte("<a>héllo wörld 😀 \x00 ]]></a> plain ascii tail")))
	f.Add([]byte{0x3c, 0, 0x61, 0, 0x00, 0xd8, 0x41, 0, 0x42, 0, 0x43, 0, 0x44, 0, 0x45})
	// Runs of ASCII long enough for the sixteen- and eight-unit steps,
	// broken at every offset by one character that is not.
	for i := range 40 {
		s := []byte("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>")
		f.Add(EncodeUTF16LE(append(append(s[:i:i], "é"...), s[i:]...)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotRepl := decodeUTF16LE(b)
		want, wantRepl := refDecodeUTF16LE(b)
		if string(got) != string(want) || gotRepl != wantRepl {
			t.Fatalf("decodeUTF16LE(%x) = %q,%d want %q,%d", b, got, gotRepl, want, wantRepl)
		}
		if g, w := EnvelopeSize(b), refEnvelopeSize(b); g != w {
			t.Fatalf("EnvelopeSize(%q) = %d, want %d", b, g, w)
		}
	})
}

func BenchmarkDecodeText(b *testing.B) {
	text := []byte(`<w:Event><![CDATA[<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>4658</EventID></System></Event>]]></w:Event>`)
	var env []byte
	for len(env) < 200_000 {
		env = append(env, text...)
	}
	wire := EncodeUTF16LE(env)
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		out, _ := decodeUTF16LE(wire[2:])
		_ = EnvelopeSize(out)
	}
}

// FuzzIndexAt holds the rare-byte search to bytes.Index.
func FuzzIndexAt(f *testing.F) {
	f.Add([]byte(`<w:Event><![CDATA[<Event xmlns='http://x'><a:b/></Event>]]></w:Event>`), []byte("</w:Event"))
	f.Add([]byte(`</Event </Event>`), []byte("</Event"))
	f.Add([]byte(`::</w:E`), []byte("</w:Ev"))
	f.Fuzz(func(t *testing.T, s, needle []byte) {
		if len(needle) == 0 {
			return
		}
		if got, want := indexAt(s, needle, rarestByte(needle)), bytes.Index(s, needle); got != want {
			t.Fatalf("indexAt(%q, %q) = %d, want %d", s, needle, got, want)
		}
	})
}

// FuzzParseInPlace: Parse gives the same message whether it lexes text in
// place (capacity to spare, no tab or line break) or in a copy, leaves
// text as it was, and puts back the byte it borrows past the end.
func FuzzParseInPlace(f *testing.F) {
	f.Add([]byte(`<s:Envelope><s:Header><a:Action>x</a:Action><w:Bookmark><BookmarkList><Bookmark Channel="Security" RecordId="7"/></BookmarkList></w:Bookmark></s:Header><s:Body><w:Events><w:Event Action="a"><![CDATA[<Event/>]]></w:Event></w:Events></s:Body></s:Envelope>`))
	f.Add([]byte("<s:Envelope a='1\t2'><s:Header/></s:Envelope>"))
	f.Add([]byte(`<s:Envelope><s:Header/><s:Body><w:Events><w:Event x="1"></w:Event></w:Events></s:Body></s:Envelope>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		exact := bytes.Clone(in)[:len(in):len(in)]
		want, wantErr := Parse(exact)

		roomy := make([]byte, len(in), len(in)+1)
		copy(roomy, in)
		roomy[:len(in)+1][len(in)] = 0xA5
		got, err := Parse(roomy)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("error %v, want %v", err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("in place: %+v\nin a copy: %+v", got, want)
		}
		if !bytes.Equal(roomy, in) {
			t.Fatal("Parse modified its text")
		}
		if roomy[:len(in)+1][len(in)] != 0xA5 {
			t.Fatal("Parse did not put back the byte past the end")
		}
	})
}
