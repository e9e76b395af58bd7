// Package subscriptions holds what wefgate offers to forwarders and what it
// remembers about them: subscription definitions with their defaults,
// queries and deterministic versions, host filters, and the per-host state
// (bookmarks, heartbeats) behind the Store interface.
package subscriptions

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"wefgate/internal/glob"
	"wefgate/wef/soap"
)

// Delivery optimisation modes, as the Windows subscription dialog names them.
const (
	DeliveryNormal       = "Normal"
	DeliveryMinLatency   = "MinLatency"
	DeliveryMinBandwidth = "MinBandwidth"
	DeliveryCustom       = "Custom"
)

// Content formats a subscription may ask for.
const (
	FormatRaw          = "Raw"
	FormatRenderedText = "RenderedText"
)

// HandleEventsQuery selects the Audit Handle Manipulation events wefgate
// exists for.
const HandleEventsQuery = `*[System[(EventID=4658 or EventID=4690)]]`

// Definition is one subscription as configured. Zero values mean "default";
// call Normalize before use.
type Definition struct {
	Name string `yaml:"name"`
	// ID is the stable subscription UUID. When empty it is derived from the
	// name, so renaming a subscription without pinning its id starts it
	// afresh (new bookmarks).
	ID      string `yaml:"id"`
	Enabled *bool  `yaml:"enabled"`
	// Channel and XPath build a one-query QueryList; Query, when set, is a
	// complete <QueryList> and wins.
	Channel string `yaml:"channel"`
	XPath   string `yaml:"xpath"`
	Query   string `yaml:"query"`

	ContentFormat string `yaml:"content_format"`
	// Delivery is Normal, MinLatency, MinBandwidth or Custom; Custom uses
	// MaxTime and MaxItems.
	Delivery           string        `yaml:"delivery"`
	MaxTime            time.Duration `yaml:"max_time"`
	MaxItems           int           `yaml:"max_items"`
	HeartbeatInterval  time.Duration `yaml:"heartbeat_interval"`
	ReadExistingEvents bool          `yaml:"read_existing_events"`
	IgnoreChannelError *bool         `yaml:"ignore_channel_error"`
	Locale             string        `yaml:"locale"`
	DataLocale         string        `yaml:"data_locale"`
	// Compression is "SLDC" (what Windows does best) or "none".
	Compression     string        `yaml:"compression"`
	MaxEnvelopeSize int           `yaml:"max_envelope_size"`
	RetryCount      int           `yaml:"connection_retry_count"`
	RetryInterval   time.Duration `yaml:"connection_retry_interval"`
	// AllowedHosts and DeniedHosts are globs ('*' = any run of characters)
	// on the authenticated host identity, compared case-insensitively; a
	// denial wins. Identities are certificate CNs (host FQDNs) on the HTTPS
	// listener and Kerberos principals (NAME$@REALM) on the HTTP one.
	AllowedHosts []string `yaml:"allowed_hosts"`
	DeniedHosts  []string `yaml:"denied_hosts"`
	// Revision is a free label (a git commit, say) echoed by forwarders.
	Revision string `yaml:"revision"`
}

// IsEnabled reports whether the subscription is offered at all.
func (d *Definition) IsEnabled() bool { return d.Enabled == nil || *d.Enabled }

// Normalize fills defaults and validates. It is idempotent.
func (d *Definition) Normalize() error {
	d.Name = strings.TrimSpace(d.Name)
	if d.Name == "" {
		return errors.New("subscription without a name")
	}
	if d.ID == "" {
		d.ID = derivedID(d.Name)
	} else {
		id, err := normalizeGUID(d.ID)
		if err != nil {
			return fmt.Errorf("subscription %q: id: %w", d.Name, err)
		}
		d.ID = id
	}
	built := d.Query == "" // from channel and xpath
	if built {
		if d.Channel == "" {
			d.Channel = "Security"
		}
		if d.XPath == "" {
			d.XPath = HandleEventsQuery
		}
		d.Query = `<QueryList><Query Id="0"><Select Path="` + xmlEscape(d.Channel) + `">` + xmlEscape(d.XPath) + `</Select></Query></QueryList>`
	} else if d.Channel != "" || d.XPath != "" {
		return fmt.Errorf("subscription %q: set either query or channel/xpath, not both", d.Name)
	}
	if err := checkQuery(d.Query); err != nil {
		key := "query"
		if built {
			key = "xpath"
		}
		return fmt.Errorf("subscription %q: %s: %w", d.Name, key, err)
	}
	switch d.ContentFormat {
	case "":
		d.ContentFormat = FormatRaw
	case FormatRaw, FormatRenderedText:
	default:
		return fmt.Errorf("subscription %q: content_format %q is neither Raw nor RenderedText", d.Name, d.ContentFormat)
	}
	var maxTime, heartbeat time.Duration
	switch d.Delivery {
	case "", DeliveryMinLatency:
		d.Delivery, maxTime, heartbeat = DeliveryMinLatency, 30*time.Second, time.Hour
	case DeliveryNormal:
		maxTime, heartbeat = 15*time.Minute, 15*time.Minute
	case DeliveryMinBandwidth:
		maxTime, heartbeat = 6*time.Hour, 6*time.Hour
	case DeliveryCustom:
		if d.MaxTime <= 0 {
			return fmt.Errorf("subscription %q: delivery Custom needs max_time", d.Name)
		}
		maxTime, heartbeat = d.MaxTime, time.Hour
	default:
		return fmt.Errorf("subscription %q: delivery %q is not Normal, MinLatency, MinBandwidth or Custom", d.Name, d.Delivery)
	}
	if d.Delivery != DeliveryCustom {
		if d.MaxTime != 0 || d.MaxItems != 0 {
			return fmt.Errorf("subscription %q: max_time and max_items need delivery: Custom", d.Name)
		}
		d.MaxTime = maxTime
	}
	if d.HeartbeatInterval == 0 {
		d.HeartbeatInterval = heartbeat
	}
	if d.HeartbeatInterval < time.Second || d.MaxTime < time.Second {
		return fmt.Errorf("subscription %q: heartbeat_interval and max_time must be at least 1s", d.Name)
	}
	if d.MaxItems < 0 {
		return fmt.Errorf("subscription %q: max_items must not be negative", d.Name)
	}
	if d.IgnoreChannelError == nil {
		t := true
		d.IgnoreChannelError = &t
	}
	switch strings.ToLower(d.Compression) {
	case "", "sldc":
		d.Compression = "SLDC"
	case "none":
		d.Compression = "none"
	default:
		return fmt.Errorf("subscription %q: compression %q is neither SLDC nor none", d.Name, d.Compression)
	}
	if d.MaxEnvelopeSize == 0 {
		d.MaxEnvelopeSize = 512000
	}
	if d.MaxEnvelopeSize < 8192 {
		return fmt.Errorf("subscription %q: max_envelope_size %d is too small", d.Name, d.MaxEnvelopeSize)
	}
	if d.RetryCount == 0 {
		d.RetryCount = 5
	}
	if d.RetryInterval == 0 {
		d.RetryInterval = time.Minute
	}
	if len(d.AllowedHosts) == 0 {
		d.AllowedHosts = []string{"*"}
	}
	return nil
}

// Admits reports whether the host with this authenticated identity may use
// the subscription.
func (d *Definition) Admits(identity string) bool {
	match := func(globs []string) bool {
		for _, g := range globs {
			if glob.Match(g, identity) {
				return true
			}
		}
		return false
	}
	return match(d.AllowedHosts) && !match(d.DeniedHosts)
}

// Offer builds what a forwarder receives for this subscription: address is
// the delivery base URL ("https://wec:5986"), auth the policy of the listener
// the host came in on, bookmark the stored BookmarkList for the host.
func (d *Definition) Offer(baseURL string, auth soap.Auth, bookmark string) soap.Subscription {
	s := soap.Subscription{
		ID:                      d.ID,
		Name:                    d.Name,
		Revision:                d.Revision,
		Address:                 strings.TrimRight(baseURL, "/") + DeliveryPath + d.ID,
		Auth:                    auth,
		Heartbeat:               d.HeartbeatInterval,
		ConnectionRetryTotal:    d.RetryCount,
		ConnectionRetryInterval: d.RetryInterval,
		MaxTime:                 d.MaxTime,
		MaxElements:             d.MaxItems,
		MaxEnvelopeSize:         d.MaxEnvelopeSize,
		ContentFormat:           d.ContentFormat,
		IgnoreChannelError:      *d.IgnoreChannelError,
		ReadExistingEvents:      d.ReadExistingEvents,
		Locale:                  d.Locale,
		DataLocale:              d.DataLocale,
		Query:                   d.Query,
		Bookmark:                bookmark,
	}
	if d.Compression == "SLDC" {
		s.Compression = "SLDC"
	}
	s.Version = Version(&s)
	return s
}

// BatchLimits returns what the subscription announces about the size of a
// batch: MaxEnvelopeSize (UTF-16 code units of the whole envelope) and
// MaxItems (w:Event elements; 0 when none is announced).
func (d *Definition) BatchLimits() (maxEnvelopeSize, maxItems int) {
	return d.MaxEnvelopeSize, d.MaxItems
}

// DeliveryPath prefixes the delivery URL of every subscription; the
// subscription UUID follows.
const DeliveryPath = soap.DeliveryPath

// Key returns the subscription's stable identifier (upper-case UUID) and
// its name.
func (d *Definition) Key() (id, name string) { return d.ID, d.Name }

// Version derives the public subscription version from everything a
// forwarder sees except the bookmark, so every node computes the same
// value and only a real change makes hosts re-subscribe.
func Version(s *soap.Subscription) string {
	h := sha256.New()
	field := func(v string) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(v)))
		h.Write(n[:])
		h.Write([]byte(v))
	}
	for _, v := range []string{
		s.ID, s.Name, s.Revision, s.Address, s.Auth.Profile, strings.ToLower(s.Auth.IssuerThumbprint),
		s.Heartbeat.String(), strconv.Itoa(s.ConnectionRetryTotal), s.ConnectionRetryInterval.String(),
		s.MaxTime.String(), strconv.Itoa(s.MaxElements), strconv.Itoa(s.MaxEnvelopeSize), s.ContentFormat,
		strconv.FormatBool(s.IgnoreChannelError), strconv.FormatBool(s.ReadExistingEvents), s.Compression,
		s.Locale, s.DataLocale, s.Query,
	} {
		field(v)
	}
	var b [16]byte
	copy(b[:], h.Sum(nil))
	return soap.FormatGUID(b)
}

// derivedID maps a name to a stable name-based (version 5 style) UUID.
func derivedID(name string) string {
	sum := sha1.Sum([]byte("wefgate subscription\x00" + name))
	var b [16]byte
	copy(b[:], sum[:16])
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return soap.FormatGUID(b)
}

func normalizeGUID(s string) (string, error) {
	s = strings.ToUpper(strings.Trim(strings.TrimSpace(s), "{}"))
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return "", fmt.Errorf("%q is not a GUID", s)
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		if (c < '0' || c > '9') && (c < 'A' || c > 'F') {
			return "", fmt.Errorf("%q is not a GUID", s)
		}
	}
	return s, nil
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
