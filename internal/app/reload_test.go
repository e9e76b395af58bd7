package app

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"wefgate/config"
)

func TestConfigDiff(t *testing.T) {
	base := "data_dir: /tmp/wefgate-diff\nhostname: wec.example.test\n"
	for _, tt := range []struct {
		name       string
		next       string
		want       []string
		reloadable []bool
	}{
		{"same", base, nil, nil},
		{"log level", base + "log: {level: debug}\n", []string{"log.level"}, []bool{true}},
		{"log format", base + "log: {format: json}\n", []string{"log.format"}, []bool{false}},
		{"listener address", base + "https: {address: ':6986'}\n", []string{"https.address"}, []bool{false}},
		{"CA files", base + "https: {server_cert: /s.pem, server_key: /k.pem, ca_files: [/ca.pem]}\n",
			[]string{"https.ca_files", "https.server_cert", "https.server_key"}, []bool{true, true, true}},
		{"data directory", "data_dir: /tmp/elsewhere\nhostname: wec.example.test\n", nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := config.Parse([]byte(base))
			if err != nil {
				t.Fatal(err)
			}
			b, err := config.Parse([]byte(tt.next))
			if err != nil {
				t.Fatal(err)
			}
			got := configDiff(a, b)
			if tt.name == "data directory" {
				// data_dir moves every default path below it.
				if len(got) == 0 || got[0] != "data_dir" {
					t.Fatalf("diff %v, want data_dir first", got)
				}
				for _, p := range got {
					if isReloadable(p) {
						t.Errorf("%s reloadable", p)
					}
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("diff %v, want %v", got, tt.want)
			}
			for i, p := range got {
				if isReloadable(p) != tt.reloadable[i] {
					t.Errorf("%s: reloadable %v, want %v", p, isReloadable(p), tt.reloadable[i])
				}
			}
		})
	}
}

func TestLogSubscriptionChangesNamesHostFilters(t *testing.T) {
	base := "data_dir: /tmp/wefgate-diff\nhostname: wec.example.test\nsubscriptions:\n  - name: a\n  - name: b\n"
	next := "data_dir: /tmp/wefgate-diff\nhostname: wec.example.test\nsubscriptions:\n  - name: a\n    denied_hosts: ['win001*']\n  - name: b\n"
	a, err := config.Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	b, err := config.Parse([]byte(next))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	l := &live{logger: slog.New(slog.NewTextHandler(&buf, nil))}
	l.logSubscriptionChanges(a, b)
	out := buf.String()
	if !strings.Contains(out, "subscription host filters changed") || !strings.Contains(out, "subscription=a") || !strings.Contains(out, "win001*") {
		t.Errorf("no line naming subscription a and its new filter:\n%s", out)
	}
	if strings.Contains(out, "subscription=b") || strings.Contains(out, "re-subscribe") {
		t.Errorf("b did not change, and a filter change makes no host re-subscribe:\n%s", out)
	}
}
