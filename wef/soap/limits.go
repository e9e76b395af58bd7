package soap

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// ActionFault is the action of a WS-Management fault (DSP0226, Faults).
const ActionFault = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

// FaultDetailMaxEnvelopeSize is the wsman:FaultDetail of an EncodingLimit
// fault raised because an envelope exceeds MaxEnvelopeSize (DSP0226,
// wsman:EncodingLimit).
const FaultDetailMaxEnvelopeSize = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnvelopeSize"

// EnvelopeSize is the size of an envelope to compare with MaxEnvelopeSize:
// its length in UTF-16 code units, the encoding Windows sends. DSP0226 §6.2
// counts MaxEnvelopeSize in octets, and OpenWEC's notes in characters; a
// UTF-16 envelope of N octets has N/2 code units, so under either reading
// a batch Windows built within the limit is never over it here. text is
// the envelope as DecodeText returned it (UTF-8).
func EnvelopeSize(text []byte) int {
	n := 0
	for i := 0; i < len(text); {
		k := asciiWords(text[i:])
		n += k // each ASCII byte is one code unit
		if i += k; i == len(text) {
			break
		}
		c := text[i]
		if c < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(text[i:])
		if r > 0xFFFF {
			n += 2 // a surrogate pair
		} else {
			n++
		}
		i += size
	}
	return n
}

// asciiWords is how many bytes at the start of b are ASCII, counted in
// whole 8-byte words (32 bytes at a time while they last).
func asciiWords(b []byte) int {
	const high = 0x8080808080808080
	n := 0
	for n+32 <= len(b) {
		w := b[n : n+32]
		if (binary.LittleEndian.Uint64(w[0:8])|binary.LittleEndian.Uint64(w[8:16])|
			binary.LittleEndian.Uint64(w[16:24])|binary.LittleEndian.Uint64(w[24:32]))&high != 0 {
			break
		}
		n += 32
	}
	for n+8 <= len(b) && binary.LittleEndian.Uint64(b[n:n+8])&high == 0 {
		n += 8
	}
	return n
}

// EventElements is how many w:Event elements the envelope carried, empty
// ones included: what a subscription's MaxElements (MaxItems) limits.
func (m *Message) EventElements() int { return len(m.Events) + m.EmptyEvents }

// EncodingLimitFault builds the SOAP 1.2 fault wsman:EncodingLimit (DSP0226)
// answering req, sent with HTTP 400 because the sender must change
// the message. detail is a FaultDetail URI or ""; reason is the English text
// operators and Windows' ForwardingPlugin log see. req may be empty when
// the envelope could not be read.
func EncodingLimitFault(req *Message, detail, reason string) []byte {
	b := make([]byte, 0, 1024)
	b = responseHeader(b, req, ActionFault)
	b = append(b, `<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:EncodingLimit</s:Value></s:Subcode></s:Code>`...)
	b = append(b, `<s:Reason><s:Text xml:lang="en-US">`...)
	b = escapeText(b, reason)
	b = append(b, `</s:Text></s:Reason>`...)
	if detail != "" {
		b = append(b, `<s:Detail><w:FaultDetail>`...)
		b = escapeText(b, detail)
		b = append(b, `</w:FaultDetail></s:Detail>`...)
	}
	return append(b, `</s:Fault></s:Body></s:Envelope>`...)
}

// TooLarge formats "what n exceeds the limit": the reason of a fault.
func TooLarge(what string, n, limit int) string {
	return what + " " + strconv.Itoa(n) + " exceeds the subscription's limit of " + strconv.Itoa(limit)
}
