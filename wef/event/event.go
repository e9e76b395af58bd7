// Package event turns the XML of one Windows event, as a WEF forwarder sends
// it, into an Event value. Parsing never fails outright: malformed input
// yields the fields that could be read plus a Problem describing the damage,
// because one bad event must never cost the rest of its batch.
package event

import "time"

// Audit keyword bits carried by Security events (System/Keywords).
const (
	KeywordAuditFailure uint64 = 0x0010000000000000
	KeywordAuditSuccess uint64 = 0x0020000000000000
)

// Event is one parsed Windows event. Strings hold decoded text (entities and
// character references resolved). Fields absent from the XML keep their zero
// value; the Has* flags tell "absent" from "zero" where that matters.
type Event struct {
	Provider Provider

	EventID       uint32
	Qualifiers    uint16
	HasQualifiers bool
	Version       uint8
	Level         uint8
	Task          uint16
	Opcode        uint8
	// Keywords is System/Keywords as a number; KeywordsRaw is the text sent
	// (for example "0x8020000000000000").
	Keywords    uint64
	KeywordsRaw string

	// SystemTime is TimeCreated@SystemTime as sent; TimeCreated is its parsed
	// value (zero when absent or unparsable).
	SystemTime  string
	TimeCreated time.Time

	RecordID    uint64
	HasRecordID bool

	ActivityID        string
	RelatedActivityID string

	Execution Execution

	Channel  string
	Computer string
	// UserID is System/Security@UserID.
	UserID string

	// EventData holds EventData/Data in document order; unnamed items have
	// an empty Name.
	EventData []Data
	// Binary is EventData/Binary (hex text) when present.
	Binary string
	// UserData is the inner XML of <UserData>, verbatim, when present.
	UserData string

	// Rendering is RenderingInfo, present when the subscription asks for
	// ContentFormat=RenderedText.
	Rendering *Rendering

	// Raw is the event XML exactly as received.
	Raw string

	// Problem is non-nil when the XML was damaged (truncated, invalid
	// characters, unparsable); the other fields then hold what could be read.
	Problem *Problem
}

// Provider is System/Provider.
type Provider struct {
	Name            string
	GUID            string
	EventSourceName string
}

// Execution is System/Execution.
type Execution struct {
	ProcessID    uint32
	ThreadID     uint32
	HasProcessID bool
}

// Data is one EventData/Data item.
type Data struct {
	Name  string
	Value string
}

// Rendering is RenderingInfo.
type Rendering struct {
	Culture  string
	Message  string
	Level    string
	Task     string
	Opcode   string
	Channel  string
	Provider string
	Keywords []string
}

// ProblemKind classifies damaged event XML.
type ProblemKind string

const (
	// ProblemRecovered: the XML was damaged but System and EventData were
	// read in full (typically truncated inside RenderingInfo).
	ProblemRecovered ProblemKind = "recovered"
	// ProblemPartial: the XML stops or breaks before System/EventData were
	// complete; some fields are missing.
	ProblemPartial ProblemKind = "partial"
	// ProblemUnparsable: nothing usable (no EventID) could be read.
	ProblemUnparsable ProblemKind = "unparsable"
)

// Problem describes damage found while parsing.
type Problem struct {
	Kind    ProblemKind
	Message string
}

// DataValue returns the value of the first EventData item called name.
func (e *Event) DataValue(name string) (string, bool) {
	for i := range e.EventData {
		if e.EventData[i].Name == name {
			return e.EventData[i].Value, true
		}
	}
	return "", false
}

// AuditSuccess reports whether the Audit Success keyword bit is set.
func (e *Event) AuditSuccess() bool { return e.Keywords&KeywordAuditSuccess != 0 }

// AuditFailure reports whether the Audit Failure keyword bit is set.
func (e *Event) AuditFailure() bool { return e.Keywords&KeywordAuditFailure != 0 }
