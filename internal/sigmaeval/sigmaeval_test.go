package sigmaeval

import (
	"context"
	"errors"
	"strings"
	"testing"
)

const ruleText = `title: SAM handle closed
logsource: {product: windows, service: security}
detection:
  selection:
    EventID: 4658
    ObjectType|startswith: SAM_
    SubjectUserName: admmig
  condition: selection
`

func TestRuleFieldMapping(t *testing.T) {
	r, err := ParseRule("t.yml", []byte(ruleText))
	if err != nil {
		t.Fatal(err)
	}
	base := func() map[string]any {
		return map[string]any{
			"winlog.channel":                    "Security",
			"event.code":                        "4658",
			"winlog.event_data.SubjectUserName": "ADMMIG",
			"winlog.handle.object.type":         "SAM_USER",
		}
	}
	tests := []struct {
		name   string
		change func(map[string]any)
		want   bool
	}{
		{"enriched close", func(map[string]any) {}, true},
		{"object type from the event itself", func(ev map[string]any) {
			delete(ev, "winlog.handle.object.type")
			ev["winlog.event_data.ObjectType"] = "SAM_DOMAIN"
		}, true},
		{"no object type", func(ev map[string]any) { delete(ev, "winlog.handle.object.type") }, false},
		{"other event", func(ev map[string]any) { ev["event.code"] = "4656" }, false},
		{"user only under user.name is not SubjectUserName", func(ev map[string]any) {
			delete(ev, "winlog.event_data.SubjectUserName")
			ev["user.name"] = "admmig"
		}, false},
		{"other channel", func(ev map[string]any) { ev["winlog.channel"] = "System" }, false},
	}
	for _, tt := range tests {
		ev := base()
		tt.change(ev)
		got, err := r.Matches(context.Background(), ev)
		if err != nil || got != tt.want {
			t.Errorf("%s: match %v (%v), want %v", tt.name, got, err, tt.want)
		}
	}
}

func TestParseRuleErrors(t *testing.T) {
	for name, text := range map[string]string{
		"linux":           strings.Replace(ruleText, "product: windows", "product: linux", 1),
		"unknown service": strings.Replace(ruleText, "service: security", "service: nosuch", 1),
		"no condition":    strings.Replace(ruleText, "  condition: selection\n", "", 1),
		"not yaml":        "title: [",
	} {
		if _, err := ParseRule(name+".yml", []byte(text)); err == nil || !strings.Contains(err.Error(), name+".yml") {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	if _, err := LoadDir(t.TempDir()); err == nil {
		t.Error("empty directory loaded")
	}
}

func TestEvent(t *testing.T) {
	ev, err := Event([]byte(`{"resource":{"host.name":"h1"},"attributes":{"ecs.version":"8.11.0","winlog.channel":"Security","event.code":"4658"},"body":{}}`))
	if err != nil || ev["host.name"] != "h1" || ev["event.code"] != "4658" {
		t.Errorf("%v %v", ev, err)
	}
	if _, err := Event([]byte(`{"resource":{"host.name":"h1"},"attributes":{"event.code":"4658"},"body":{"channel":"Security"}}`)); !errors.Is(err, ErrNotECS) {
		t.Errorf("otel record: %v", err)
	}
	if _, err := Event([]byte(`{`)); err == nil || errors.Is(err, ErrNotECS) {
		t.Errorf("broken line: %v", err)
	}
}
