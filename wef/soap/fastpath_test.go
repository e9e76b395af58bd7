package soap

import (
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
