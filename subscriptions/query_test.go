package subscriptions

import (
	"strings"
	"testing"
)

func TestCheckQuery(t *testing.T) {
	many := "<QueryList><Query Id=\"0\">"
	for i := range 257 {
		many += `<Select Path="Channel` + strings.Repeat("x", i%3) + string(rune('A'+i%26)) + string(rune('a'+i/26)) + `">*</Select>`
	}
	many += "</Query></QueryList>"
	tests := []struct {
		name, query, want string // want "" means valid
	}{
		{"default", `<QueryList><Query Id="0"><Select Path="Security">` + xmlEscape(HandleEventsQuery) + `</Select></Query></QueryList>`, ""},
		{"select and suppress", `<QueryList><Query Id="0" Path="Security"><Select Path="Security">*[System[(EventID=4658)]]</Select><Suppress Path="Security">*[EventData[Data[@Name='SubjectUserSid']='S-1-5-18']]</Suppress></Query></QueryList>`, ""},
		{"two queries", "<QueryList>\n <Query Id=\"0\"><Select Path=\"Security\">*</Select></Query>\n <Query Id=\"1\"><Select Path=\"System\">*[System[Level=2]]</Select></Query>\n</QueryList>", ""},
		{"quoted bracket", `<QueryList><Query Id="0"><Select Path="Security">*[EventData[Data='a]b']]</Select></Query></QueryList>`, ""},
		{"path on the query", `<QueryList><Query Id="0" Path="Security"><Select>*[System[(EventID=4658)]]</Select></Query></QueryList>`, ""},
		{"suppress inherits the path", `<QueryList><Query Id="0" Path="Security"><Select Path="Security">*</Select><Suppress>*[System[EventID=4690]]</Suppress></Query></QueryList>`, ""},
		{"not xml", `<QueryList><Query>`, "well-formed"},
		{"wrong root", `<Query Id="0"><Select Path="Security">*</Select></Query>`, "unexpected <Query>"},
		{"text only", `hello`, "not a <QueryList> document"},
		{"no path", `<QueryList><Query Id="0"><Select>*</Select></Query></QueryList>`, "without a Path"},
		{"no channel", `<QueryList><Query Id="0"></Query></QueryList>`, "no channel"},
		{"empty xpath", `<QueryList><Query Id="0"><Select Path="Security"> </Select></Query></QueryList>`, "empty"},
		{"unbalanced bracket", `<QueryList><Query Id="0"><Select Path="Security">*[System[(EventID=4658)]</Select></Query></QueryList>`, "unclosed"},
		{"extra paren", `<QueryList><Query Id="0"><Select Path="Security">*[System[EventID=4658)]]</Select></Query></QueryList>`, "unbalanced"},
		{"open literal", `<QueryList><Query Id="0"><Select Path="Security">*[EventData[Data='x]]</Select></Query></QueryList>`, "unterminated"},
		{"stray text", `<QueryList>Security</QueryList>`, "outside"},
		{"too many channels", many, "at most 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkQuery(tt.query)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("checkQuery: %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("checkQuery = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// TestDefinitionRefusesBadXPath checks the error reaches the configuration
// with the subscription's name, for the channel/xpath form too.
func TestDefinitionRefusesBadXPath(t *testing.T) {
	d := Definition{Name: "broken", XPath: "*[System[(EventID=4658)]"}
	err := d.Normalize()
	if err == nil || !strings.Contains(err.Error(), `subscription "broken": xpath: `) || !strings.Contains(err.Error(), "unclosed '[' at offset") {
		t.Fatalf("Normalize = %v, want the subscription's name and the XPath", err)
	}
}
