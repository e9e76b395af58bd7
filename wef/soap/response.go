package soap

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NewMessageID returns "uuid:" and a random upper-case GUID, the form Windows
// uses and expects.
func NewMessageID() string { return "uuid:" + NewGUID() }

// NewGUID returns a random (version 4) GUID in upper case.
func NewGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return FormatGUID(b)
}

// FormatGUID formats 16 bytes as an upper-case GUID without braces.
func FormatGUID(b [16]byte) string {
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

const envelopeOpen = `<s:Envelope xml:lang="en-US" xmlns:s="` + NSEnvelope + `" xmlns:a="` + NSAddressing +
	`" xmlns:n="` + NSEnumeration + `" xmlns:w="` + NSWSMan + `" xmlns:p="` + NSMSWSMan + `">`

// responseHeader writes the header every response shares. RelatesTo echoes
// the request MessageID byte for byte: Windows matches on it.
func responseHeader(b []byte, req *Message, action string) []byte {
	to := req.ReplyTo
	if to == "" {
		to = AddressAnonymous
	}
	b = append(b, envelopeOpen...)
	b = append(b, `<s:Header><a:To>`...)
	b = escapeText(b, to)
	b = append(b, `</a:To><a:Action s:mustUnderstand="true">`...)
	b = append(b, action...)
	b = append(b, `</a:Action><a:MessageID>`...)
	b = append(b, NewMessageID()...)
	b = append(b, `</a:MessageID>`...)
	if req.OperationID != "" {
		b = append(b, `<p:OperationID s:mustUnderstand="false">`...)
		b = escapeText(b, req.OperationID)
		b = append(b, `</p:OperationID>`...)
	}
	b = append(b, `<p:SequenceId s:mustUnderstand="false">1</p:SequenceId><a:RelatesTo>`...)
	b = escapeText(b, req.MessageID)
	b = append(b, `</a:RelatesTo></s:Header>`...)
	return b
}

// Ack builds the wsman/Ack answering an Events or Heartbeat request (UTF-8;
// encode with EncodeUTF16LE before sending).
func Ack(req *Message) []byte {
	b := make([]byte, 0, 1024)
	b = responseHeader(b, req, ActionAck)
	return append(b, `<s:Body/></s:Envelope>`...)
}

// Auth says how a forwarder must authenticate to a delivery address.
type Auth struct {
	// Profile is ProfileKerberos or ProfileMutual.
	Profile string
	// IssuerThumbprint is the SHA-1 thumbprint of the CA that issued the
	// host's certificate (ProfileMutual only).
	IssuerThumbprint string
}

// Subscription is one subscription as offered to a forwarder in an
// EnumerateResponse.
type Subscription struct {
	// ID is the stable subscription UUID (upper case), the e:Identifier.
	ID string
	// Version is the public version GUID (upper case, no "uuid:").
	Version  string
	Name     string
	Revision string
	// Address is the delivery URL (NotifyTo and EndTo).
	Address string
	Auth    Auth

	Heartbeat               time.Duration
	ConnectionRetryTotal    int
	ConnectionRetryInterval time.Duration
	MaxTime                 time.Duration
	MaxElements             int
	MaxEnvelopeSize         int
	ContentFormat           string
	IgnoreChannelError      bool
	ReadExistingEvents      bool
	Compression             string
	Locale                  string
	DataLocale              string
	// Query is the <QueryList> XML.
	Query string
	// Bookmark is the stored <BookmarkList> for this host, or "".
	Bookmark string
}

// EnumerateResponse builds the answer to an Enumerate request offering subs.
func EnumerateResponse(req *Message, subs []Subscription) []byte {
	b := make([]byte, 0, 4096*(1+len(subs)))
	b = responseHeader(b, req, ActionEnumerateResponse)
	b = append(b, `<s:Body><n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext><w:Items>`...)
	for i := range subs {
		b = appendSubscription(b, &subs[i])
	}
	return append(b, `</w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>`...)
}

func appendSubscription(b []byte, s *Subscription) []byte {
	b = append(b, `<m:Subscription xmlns:m="`+NSSubscription+`"><m:Version>uuid:`...)
	b = escapeText(b, s.Version)
	b = append(b, `</m:Version><s:Envelope xmlns:s="`+NSEnvelope+`" xmlns:a="`+NSAddressing+`" xmlns:e="`+NSEventing+
		`" xmlns:n="`+NSEnumeration+`" xmlns:w="`+NSWSMan+`" xmlns:p="`+NSMSWSMan+`"><s:Header><a:To>`+AddressAnonymous+
		`</a:To><w:ResourceURI s:mustUnderstand="true">`+ResourceEventLog+`</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand="true">`+
		AddressAnonymous+`</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">`+ActionSubscribe+
		`</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">`...)
	b = strconv.AppendInt(b, int64(s.MaxEnvelopeSize), 10)
	b = append(b, `</w:MaxEnvelopeSize><a:MessageID>`...)
	b = append(b, NewMessageID()...)
	b = append(b, `</a:MessageID><p:OperationID s:mustUnderstand="false">`...)
	b = append(b, NewMessageID()...)
	b = append(b, `</p:OperationID><p:SequenceId s:mustUnderstand="false">1</p:SequenceId><w:OptionSet xmlns:xsi="`+NSXSI+`">`...)
	b = appendOption(b, "SubscriptionName", s.Name)
	if s.Compression != "" {
		b = appendOption(b, "Compression", s.Compression)
	}
	b = appendOption(b, "ContentFormat", s.ContentFormat)
	if s.IgnoreChannelError {
		b = append(b, `<w:Option Name="IgnoreChannelError" xsi:nil="true"/>`...)
	} else {
		b = appendOption(b, "IgnoreChannelError", "false")
	}
	b = append(b, `<w:Option Name="CDATA" xsi:nil="true"/>`...)
	if s.ReadExistingEvents {
		b = append(b, `<w:Option Name="ReadExistingEvents" xsi:nil="true"/>`...)
	}
	b = append(b, `</w:OptionSet></s:Header><s:Body><e:Subscribe><e:EndTo>`...)
	b = appendEndpoint(b, s, false)
	b = append(b, `</e:EndTo><e:Delivery Mode="`+DeliveryModeEvents+`"><w:Heartbeats>`...)
	b = appendDuration(b, s.Heartbeat, 3)
	b = append(b, `</w:Heartbeats><e:NotifyTo>`...)
	b = appendEndpoint(b, s, true)
	b = append(b, `</e:NotifyTo><w:ConnectionRetry Total="`...)
	b = strconv.AppendInt(b, int64(s.ConnectionRetryTotal), 10)
	b = append(b, `">`...)
	b = appendDuration(b, s.ConnectionRetryInterval, 1)
	b = append(b, `</w:ConnectionRetry>`...)
	if s.MaxElements > 0 {
		b = append(b, `<w:MaxElements>`...)
		b = strconv.AppendInt(b, int64(s.MaxElements), 10)
		b = append(b, `</w:MaxElements>`...)
	}
	b = append(b, `<w:MaxTime>`...)
	b = appendDuration(b, s.MaxTime, 3)
	b = append(b, `</w:MaxTime><w:MaxEnvelopeSize Policy="Notify">`...)
	b = strconv.AppendInt(b, int64(s.MaxEnvelopeSize), 10)
	b = append(b, `</w:MaxEnvelopeSize>`...)
	if s.Locale != "" {
		b = append(b, `<w:Locale xml:lang="`...)
		b = escapeText(b, s.Locale)
		b = append(b, `" s:mustUnderstand="false"/>`...)
	}
	if s.DataLocale != "" {
		b = append(b, `<p:DataLocale xml:lang="`...)
		b = escapeText(b, s.DataLocale)
		b = append(b, `" s:mustUnderstand="false"/>`...)
	}
	b = append(b, `<w:ContentEncoding>UTF-16</w:ContentEncoding></e:Delivery><w:Filter Dialect="`+FilterDialect+`">`...)
	b = append(b, s.Query...)
	b = append(b, `</w:Filter>`...)
	switch {
	case s.Bookmark != "":
		b = append(b, `<w:Bookmark>`...)
		b = append(b, s.Bookmark...)
		b = append(b, `</w:Bookmark>`...)
	case s.ReadExistingEvents:
		b = append(b, `<w:Bookmark>`+BookmarkEarliest+`</w:Bookmark>`...)
	}
	return append(b, `<w:SendBookmarks/></e:Subscribe></s:Body></s:Envelope></m:Subscription>`...)
}

func appendOption(b []byte, name, value string) []byte {
	b = append(b, `<w:Option Name="`...)
	b = append(b, name...)
	b = append(b, `">`...)
	b = escapeText(b, value)
	return append(b, `</w:Option>`...)
}

// appendEndpoint writes the address and reference parameters; NotifyTo also
// carries the authentication policy.
func appendEndpoint(b []byte, s *Subscription, withPolicy bool) []byte {
	b = append(b, `<a:Address>`...)
	b = escapeText(b, s.Address)
	b = append(b, `</a:Address><a:ReferenceParameters><e:Identifier>`...)
	b = escapeText(b, s.ID)
	b = append(b, `</e:Identifier><Version>`...)
	b = escapeText(b, s.Version)
	b = append(b, `</Version>`...)
	if s.Revision != "" {
		b = append(b, `<Revision>`...)
		b = escapeText(b, s.Revision)
		b = append(b, `</Revision>`...)
	}
	b = append(b, `</a:ReferenceParameters>`...)
	if !withPolicy {
		return b
	}
	b = append(b, `<c:Policy xmlns:c="`+NSPolicy+`" xmlns:auth="`+NSAuth+`"><c:ExactlyOne><c:All><auth:Authentication Profile="`...)
	b = escapeText(b, s.Auth.Profile)
	if s.Auth.Profile == ProfileMutual {
		b = append(b, `"><auth:ClientCertificate><auth:Thumbprint Role="issuer">`...)
		b = escapeText(b, strings.ToLower(s.Auth.IssuerThumbprint))
		b = append(b, `</auth:Thumbprint></auth:ClientCertificate></auth:Authentication>`...)
	} else {
		b = append(b, `"/>`...)
	}
	return append(b, `</c:All></c:ExactlyOne></c:Policy>`...)
}

// appendDuration writes d as Windows does: PT<seconds>.000S (decimals=3) or
// PT<seconds>.0S (decimals=1, ConnectionRetry).
func appendDuration(b []byte, d time.Duration, decimals int) []byte {
	ms := d.Milliseconds()
	b = append(b, "PT"...)
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.')
	frac := fmt.Sprintf("%03d", ms%1000)
	b = append(b, frac[:decimals]...)
	return append(b, 'S')
}

// ParseDuration reads an xs:duration of the forms Windows uses in
// subscriptions (PT30.000S, PT1H, P1DT2M). Only days, hours, minutes and
// seconds are accepted.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	if !strings.HasPrefix(s, "P") {
		return 0, fmt.Errorf("soap: duration %q does not start with P", orig)
	}
	s = s[1:]
	var total time.Duration
	inTime := false
	for s != "" {
		if s[0] == 'T' {
			inTime = true
			s = s[1:]
			continue
		}
		i := strings.IndexAny(s, "DHMS")
		if i <= 0 {
			return 0, fmt.Errorf("soap: malformed duration %q", orig)
		}
		v, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("soap: malformed duration %q", orig)
		}
		var unit time.Duration
		switch s[i] {
		case 'D':
			unit = 24 * time.Hour
		case 'H':
			unit = time.Hour
		case 'M':
			if !inTime {
				return 0, fmt.Errorf("soap: months are not supported in duration %q", orig)
			}
			unit = time.Minute
		case 'S':
			unit = time.Second
		}
		total += time.Duration(v * float64(unit))
		s = s[i+1:]
	}
	return total, nil
}
