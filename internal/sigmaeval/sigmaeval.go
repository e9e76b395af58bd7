// Package sigmaeval evaluates Sigma rules over the records wefgate exports
// in the ecs schema, with the Go Sigma implementation
// github.com/bradleyjkemp/sigma-go.
//
// Sigma rules for Windows name fields as Windows does (EventID,
// ObjectName, SubjectUserName, ...). A SIEM backend translates those names
// for its own schema; for Elastic, pySigma's ecs_windows pipeline
// (pySigma-backend-elasticsearch) maps a few of them to ECS fields
// (EventID → event.code, Channel → winlog.channel, ...), adds a
// winlog.channel condition per logsource service, and prefixes every other
// field with winlog.event_data. This package does the same with a
// sigma-go field mapping, so a rule matches wefgate's ecs output exactly
// where the converted query would match the same documents in Elastic.
//
// wefgate's enrichment adds what 4658, 4660 and 4690 lack (the object and
// the processes behind a handle). The mapping lets the usual Windows names
// reach it as well: ObjectName, ObjectType and AccessMask also look at
// winlog.handle.object.name/type and winlog.handle.access.mask, and
// SourceImage/TargetImage (Sysmon's process_access names) name the
// duplicating and the receiving process of a 4690.
package sigmaeval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"
)

// fieldMapping maps Sigma's Windows field names to ecs-schema fields; a
// field may have several targets, and a rule's value matches if any of
// them matches. Fields not listed here map to winlog.event_data.<Field>.
var fieldMapping = map[string][]string{
	// pySigma ecs_windows: the fields winlogbeat keeps outside event_data.
	"EventID":       {"event.code"},
	"Channel":       {"winlog.channel"},
	"Provider_Name": {"winlog.provider_name"},
	"Computer":      {"winlog.computer_name"},
	"ComputerName":  {"winlog.computer_name"},
	// Elastic's pipeline moves these out of event_data for some events
	// (4658, 4660, 4689: ProcessName; 4688: NewProcessName ...), so both
	// places are looked at.
	"ProcessName":       {"winlog.event_data.ProcessName", "process.executable"},
	"NewProcessName":    {"winlog.event_data.NewProcessName", "process.executable"},
	"ParentProcessName": {"winlog.event_data.ParentProcessName", "process.parent.executable"},
	"Image":             {"process.executable"},
	"ParentImage":       {"process.parent.executable"},
	"CommandLine":       {"process.command_line"},
	// wefgate enrichment: the object behind a handle, for events that do
	// not name it themselves.
	"ObjectName":  {"winlog.event_data.ObjectName", "winlog.handle.object.name"},
	"ObjectType":  {"winlog.event_data.ObjectType", "winlog.handle.object.type"},
	"AccessMask":  {"winlog.event_data.AccessMask", "winlog.handle.access.mask"},
	"SourceImage": {"winlog.handle.process.executable"},
	"TargetImage": {"winlog.handle.target.process.executable"},
}

// serviceChannels is the winlog.channel condition pySigma's Windows
// pipelines add for a rule's logsource service.
var serviceChannels = map[string]string{
	"security":    "Security",
	"system":      "System",
	"application": "Application",
	"sysmon":      "Microsoft-Windows-Sysmon/Operational",
	"powershell":  "Microsoft-Windows-PowerShell/Operational",
}

// Rule is one parsed Sigma rule with its evaluator.
type Rule struct {
	// Path is the file the rule came from.
	Path string
	sigma.Rule
	channel string
	eval    *evaluator.RuleEvaluator
}

// Name is the rule's id when it has one, else its title.
func (r *Rule) Name() string {
	if r.ID != "" {
		return r.ID
	}
	return r.Title
}

// ParseRule parses one Sigma rule (YAML). Errors name path.
func ParseRule(path string, data []byte) (*Rule, error) {
	sr, err := sigma.ParseRule(data)
	if err != nil {
		return nil, fmt.Errorf("sigma rule %s: %w", path, err)
	}
	if sr.Title == "" || len(sr.Detection.Conditions) == 0 {
		return nil, fmt.Errorf("sigma rule %s: no title or no condition", path)
	}
	if !strings.EqualFold(sr.Logsource.Product, "windows") {
		return nil, fmt.Errorf("sigma rule %s: logsource product %q: only windows rules apply to Windows events", path, sr.Logsource.Product)
	}
	r := &Rule{Path: path, Rule: sr}
	if sr.Logsource.Service != "" {
		ch, ok := serviceChannels[strings.ToLower(sr.Logsource.Service)]
		if !ok {
			return nil, fmt.Errorf("sigma rule %s: logsource service %q has no channel mapping", path, sr.Logsource.Service)
		}
		r.channel = ch
	}
	r.eval = evaluator.ForRule(sr, evaluator.WithConfig(ruleConfig(sr)))
	return r, nil
}

// ruleConfig is the sigma-go configuration for one rule: fieldMapping,
// plus winlog.event_data.<Field> for every other field the rule uses
// (sigma-go has no prefix rule, so the rule's fields are listed).
func ruleConfig(r sigma.Rule) sigma.Config {
	m := make(map[string]sigma.FieldMapping, len(fieldMapping)+8)
	for k, v := range fieldMapping {
		m[k] = sigma.FieldMapping{TargetNames: v}
	}
	for _, s := range r.Detection.Searches {
		for _, em := range s.EventMatchers {
			for _, fm := range em {
				if _, ok := m[fm.Field]; !ok && fm.Field != "" {
					m[fm.Field] = sigma.FieldMapping{TargetNames: []string{"winlog.event_data." + fm.Field}}
				}
			}
		}
	}
	return sigma.Config{Title: "wefgate ecs schema", FieldMappings: m}
}

// LoadDir parses every *.yml and *.yaml file in dir, in name order.
func LoadDir(dir string) ([]*Rule, error) {
	var files []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no Sigma rules (*.yml, *.yaml) in %s", dir)
	}
	rules := make([]*Rule, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r, err := ParseRule(f, data)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// Matches reports whether the rule fires on ev, an event as Event returns
// it.
func (r *Rule) Matches(ctx context.Context, ev map[string]any) (bool, error) {
	if r.channel != "" && !strings.EqualFold(fmt.Sprint(ev["winlog.channel"]), r.channel) {
		return false, nil
	}
	res, err := r.eval.Matches(ctx, ev)
	if err != nil {
		return false, fmt.Errorf("sigma rule %s: %w", r.Path, err)
	}
	return res.Match, nil
}

// exported is the part of an exported JSON line (exporters/file) a rule
// can look at.
type exported struct {
	Resource   map[string]any `json:"resource"`
	Attributes map[string]any `json:"attributes"`
}

// ErrNotECS is returned for a record without ecs.version: it was not
// exported with exporters.schema: ecs, and no rule could match it.
var ErrNotECS = errors.New("record lacks ecs.version: export with exporters.schema: ecs")

// Event turns one exported JSON line into the flat field → value map the
// rules are evaluated on: the attributes, plus the resource's host.name.
func Event(line []byte) (map[string]any, error) {
	var x exported
	if err := json.Unmarshal(line, &x); err != nil {
		return nil, fmt.Errorf("exported record: %w", err)
	}
	ev := make(map[string]any, len(x.Attributes)+2)
	for k, v := range x.Attributes {
		ev[k] = v
	}
	if h, ok := x.Resource["host.name"]; ok {
		if _, set := ev["host.name"]; !set {
			ev["host.name"] = h
		}
	}
	if _, ok := ev["ecs.version"]; !ok {
		return ev, ErrNotECS
	}
	return ev, nil
}
