package soap

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// Request describes an envelope a forwarder sends. wefgate's own forwarder
// builds every message with it, in the shape Windows uses.
type Request struct {
	Action      string
	To          string
	ResourceURI string
	MachineID   string
	MessageID   string
	SessionID   string
	OperationID string
	Locale      string
	// Identifier, Version and Revision echo the subscription's reference
	// parameters (delivery messages only).
	Identifier string
	Version    string
	Revision   string
	// Bookmark is the <BookmarkList> to report (Events only).
	Bookmark     string
	AckRequested bool
	// Body is the inner XML of s:Body.
	Body []byte
}

// Build renders r as UTF-8 XML (encode with EncodeUTF16LE to send).
func (r *Request) Build() []byte {
	b := make([]byte, 0, 2048+len(r.Body))
	b = append(b, `<s:Envelope xmlns:s="`+NSEnvelope+`" xmlns:a="`+NSAddressing+`" xmlns:n="`+NSEnumeration+
		`" xmlns:e="`+NSEventing+`" xmlns:w="`+NSWSMan+`" xmlns:p="`+NSMSWSMan+`"><s:Header><a:To>`...)
	b = escapeText(b, r.To)
	b = append(b, `</a:To>`...)
	if r.ResourceURI != "" {
		b = append(b, `<w:ResourceURI s:mustUnderstand="true">`...)
		b = escapeText(b, r.ResourceURI)
		b = append(b, `</w:ResourceURI>`...)
	}
	b = append(b, `<m:MachineID xmlns:m="`+NSMachineID+`" s:mustUnderstand="false">`...)
	b = escapeText(b, r.MachineID)
	b = append(b, `</m:MachineID><a:ReplyTo><a:Address s:mustUnderstand="true">`+AddressAnonymous+
		`</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">`...)
	b = escapeText(b, r.Action)
	b = append(b, `</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>`...)
	b = escapeText(b, r.MessageID)
	b = append(b, `</a:MessageID>`...)
	locale := r.Locale
	if locale == "" {
		locale = "en-US"
	}
	b = append(b, `<w:Locale xml:lang="`...)
	b = escapeText(b, locale)
	b = append(b, `" s:mustUnderstand="false"/><p:DataLocale xml:lang="`...)
	b = escapeText(b, locale)
	b = append(b, `" s:mustUnderstand="false"/>`...)
	if r.SessionID != "" {
		b = append(b, `<p:SessionId s:mustUnderstand="false">`...)
		b = escapeText(b, r.SessionID)
		b = append(b, `</p:SessionId>`...)
	}
	if r.OperationID != "" {
		b = append(b, `<p:OperationID s:mustUnderstand="false">`...)
		b = escapeText(b, r.OperationID)
		b = append(b, `</p:OperationID>`...)
	}
	b = append(b, `<p:SequenceId s:mustUnderstand="false">1</p:SequenceId><w:OperationTimeout>PT60.000S</w:OperationTimeout>`...)
	if r.Identifier != "" {
		b = append(b, `<e:Identifier>`...)
		b = escapeText(b, r.Identifier)
		b = append(b, `</e:Identifier>`...)
	}
	if r.Version != "" {
		b = append(b, `<Version>`...)
		b = escapeText(b, r.Version)
		b = append(b, `</Version>`...)
	}
	if r.Revision != "" {
		b = append(b, `<Revision>`...)
		b = escapeText(b, r.Revision)
		b = append(b, `</Revision>`...)
	}
	if r.Bookmark != "" {
		b = append(b, `<w:Bookmark>`...)
		b = append(b, r.Bookmark...)
		b = append(b, `</w:Bookmark>`...)
	}
	if r.AckRequested {
		b = append(b, `<w:AckRequested/>`...)
	}
	b = append(b, `</s:Header><s:Body>`...)
	b = append(b, r.Body...)
	return append(b, `</s:Body></s:Envelope>`...)
}

// EnumerateBody is the body of the Enumerate a forwarder sends to its
// subscription manager.
const EnumerateBody = `<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements></n:Enumerate>`

// EventsBody renders events (each the XML of one event) as w:Events, in
// CDATA sections as Windows sends them when the subscription sets CDATA.
func EventsBody(events [][]byte) []byte {
	n := 32
	for _, e := range events {
		n += len(e) + 96
	}
	b := make([]byte, 0, n)
	b = append(b, `<w:Events>`...)
	for _, e := range events {
		b = append(b, `<w:Event Action="`+ActionEvent+`"><![CDATA[`...)
		// "]]>" cannot appear inside CDATA: split the section around it.
		b = append(b, bytes.ReplaceAll(e, []byte("]]>"), []byte("]]]]><![CDATA[>"))...)
		b = append(b, `]]></w:Event>`...)
	}
	return append(b, `</w:Events>`...)
}

// SubscriptionEndBody is the body a forwarder sends when it gives up a
// subscription.
func SubscriptionEndBody(address, identifier, machine, reason string) []byte {
	b := []byte(`<e:SubscriptionEnd><e:SubscriptionManager><a:Address>`)
	b = escapeText(b, address)
	b = append(b, `</a:Address><a:ReferenceProperties><e:Identifier>`...)
	b = escapeText(b, identifier)
	b = append(b, `</e:Identifier></a:ReferenceProperties></e:SubscriptionManager><e:Status>`+StatusCancelling+
		`</e:Status><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="1717" Machine="`...)
	b = escapeText(b, machine)
	b = append(b, `"><f:Message>`...)
	b = escapeText(b, reason)
	return append(b, `</f:Message></f:WSManFault></e:SubscriptionEnd>`...)
}

// ParseEnumerateResponse reads the subscriptions offered in an
// EnumerateResponse (UTF-8 text). It is what a forwarder needs to follow
// them, not a full schema.
func ParseEnumerateResponse(text []byte) (relatesTo string, subs []Subscription, err error) {
	var env struct {
		Header struct {
			RelatesTo string `xml:"RelatesTo"`
			Action    string `xml:"Action"`
		} `xml:"Header"`
		Body struct {
			Response *struct {
				Items struct {
					Subs []wireSubscription `xml:"Subscription"`
				} `xml:"Items"`
			} `xml:"EnumerateResponse"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(text, &env); err != nil {
		return "", nil, fmt.Errorf("soap: EnumerateResponse: %w", err)
	}
	if env.Body.Response == nil {
		return "", nil, fmt.Errorf("soap: not an EnumerateResponse (action %q)", env.Header.Action)
	}
	for _, w := range env.Body.Response.Items.Subs {
		s, err := w.subscription()
		if err != nil {
			return "", nil, err
		}
		subs = append(subs, s)
	}
	return strings.TrimSpace(env.Header.RelatesTo), subs, nil
}

type wireEndpoint struct {
	Address    string `xml:"Address"`
	Identifier string `xml:"ReferenceParameters>Identifier"`
	Version    string `xml:"ReferenceParameters>Version"`
	Revision   string `xml:"ReferenceParameters>Revision"`
	Auth       struct {
		Profile    string `xml:"Profile,attr"`
		Thumbprint string `xml:"ClientCertificate>Thumbprint"`
	} `xml:"Policy>ExactlyOne>All>Authentication"`
}

type wireSubscription struct {
	Version  string `xml:"Version"`
	Envelope struct {
		Header struct {
			MaxEnvelopeSize int `xml:"MaxEnvelopeSize"`
			Options         []struct {
				Name  string `xml:"Name,attr"`
				Nil   string `xml:"http://www.w3.org/2001/XMLSchema-instance nil,attr"`
				Value string `xml:",chardata"`
			} `xml:"OptionSet>Option"`
		} `xml:"Header"`
		Subscribe struct {
			Delivery struct {
				Heartbeats      string       `xml:"Heartbeats"`
				NotifyTo        wireEndpoint `xml:"NotifyTo"`
				ConnectionRetry struct {
					Total    int    `xml:"Total,attr"`
					Interval string `xml:",chardata"`
				} `xml:"ConnectionRetry"`
				MaxElements int    `xml:"MaxElements"`
				MaxTime     string `xml:"MaxTime"`
				Locale      struct {
					Lang string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
				} `xml:"Locale"`
			} `xml:"Delivery"`
			Filter struct {
				Inner string `xml:",innerxml"`
			} `xml:"Filter"`
			Bookmark struct {
				Inner string `xml:",innerxml"`
			} `xml:"Bookmark"`
		} `xml:"Body>Subscribe"`
	} `xml:"Envelope"`
}

func (w *wireSubscription) subscription() (Subscription, error) {
	d := &w.Envelope.Subscribe.Delivery
	s := Subscription{
		ID:                   strings.TrimSpace(d.NotifyTo.Identifier),
		Version:              strings.TrimPrefix(strings.TrimSpace(w.Version), "uuid:"),
		Revision:             strings.TrimSpace(d.NotifyTo.Revision),
		Address:              strings.TrimSpace(d.NotifyTo.Address),
		Auth:                 Auth{Profile: d.NotifyTo.Auth.Profile, IssuerThumbprint: strings.TrimSpace(d.NotifyTo.Auth.Thumbprint)},
		ConnectionRetryTotal: d.ConnectionRetry.Total,
		MaxElements:          d.MaxElements,
		MaxEnvelopeSize:      w.Envelope.Header.MaxEnvelopeSize,
		Locale:               d.Locale.Lang,
		Query:                strings.TrimSpace(w.Envelope.Subscribe.Filter.Inner),
		Bookmark:             strings.TrimSpace(w.Envelope.Subscribe.Bookmark.Inner),
		IgnoreChannelError:   false,
	}
	var err error
	if s.Heartbeat, err = ParseDuration(strings.TrimSpace(d.Heartbeats)); err != nil {
		return s, err
	}
	if s.MaxTime, err = ParseDuration(strings.TrimSpace(d.MaxTime)); err != nil {
		return s, err
	}
	if d.ConnectionRetry.Interval != "" {
		if s.ConnectionRetryInterval, err = ParseDuration(strings.TrimSpace(d.ConnectionRetry.Interval)); err != nil {
			return s, err
		}
	}
	for _, o := range w.Envelope.Header.Options {
		set := o.Nil == "true" || strings.TrimSpace(o.Value) != "false"
		switch o.Name {
		case "SubscriptionName":
			s.Name = strings.TrimSpace(o.Value)
		case "Compression":
			s.Compression = strings.TrimSpace(o.Value)
		case "ContentFormat":
			s.ContentFormat = strings.TrimSpace(o.Value)
		case "IgnoreChannelError":
			s.IgnoreChannelError = set
		case "ReadExistingEvents":
			s.ReadExistingEvents = set
		}
	}
	if s.ID == "" || s.Address == "" {
		return s, fmt.Errorf("soap: subscription %q lacks an identifier or address", s.Name)
	}
	return s, nil
}
