package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// childEnv makes the test binary behave as the wefgate command, so that
// 'wefgate load' can start its gateway and floor children from a test or
// benchmark (os.Executable is then the test binary).
const childEnv = "WEFGATE_TEST_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString("wefgate: " + err.Error() + "\n")
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var reFloorRatio = regexp.MustCompile(`floor ratio: events_per_second=([0-9.]+) cpu_per_event=([0-9.]+)`)

// loadRun runs 'wefgate load' with args and returns its output.
func loadRun(tb testing.TB, args ...string) string {
	tb.Helper()
	tb.Setenv(childEnv, "1")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), append([]string{"load"}, args...), &out, &errOut); err != nil {
		tb.Fatalf("load: %v\n%s%s", err, out.String(), errOut.String())
	}
	return out.String()
}

// TestLoadFloorReportsBothSides runs a short throughput load with the
// floor and checks that every figure the README quotes is printed.
func TestLoadFloorReportsBothSides(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway and a floor server")
	}
	out := loadRun(t, "-hosts", "2", "-duration", "2s", "-warmup", "500ms", "-floor")
	for _, want := range []string{"gateway: connections_open=2 ", "floor: connections_open=2 ", "ack_p99=", "server_cpu_us_per_event=",
		"driver_cpu_percent=", "server_rss_mib=", "gateway: limit: ", "floor ratio: "} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if !reFloorRatio.MatchString(out) {
		t.Errorf("no floor ratio in:\n%s", out)
	}
}

func TestLoadRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-profile", "storm"},
		{"-transport", "kerberos"},
		{"-transport", "kerberos", "-realm", "x", "-floor"},
		{"-profile", "fleet", "-rate", "0"},
		{"-duration", "1s", "-warmup", "2s"},
		{"-max-time", "10ms"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"load"}, args...), &out, &out); err == nil {
			t.Errorf("load %v accepted", args)
		}
	}
}

// BenchmarkGatewayVsFloor is the floor ratio 'make bench' prints: a short
// throughput load (HTTPS, spool, file exporter) against the gateway, then
// the same bodies against a bare HTTPS server. Metrics: the gateway's
// events/s as a fraction of the floor's, and its CPU per event as a
// multiple of the floor's.
func BenchmarkGatewayVsFloor(b *testing.B) {
	for range b.N {
		out := loadRun(b, "-hosts", "8", "-duration", "5s", "-warmup", "1s", "-floor")
		m := reFloorRatio.FindStringSubmatch(out)
		if m == nil {
			b.Fatalf("no floor ratio in:\n%s", out)
		}
		events, _ := strconv.ParseFloat(m[1], 64)
		cpu, _ := strconv.ParseFloat(m[2], 64)
		b.ReportMetric(events, "events/s-of-floor")
		b.ReportMetric(cpu, "cpu/event-x-floor")
		b.ReportMetric(0, "ns/op")
		b.Log("\n" + out)
	}
}
