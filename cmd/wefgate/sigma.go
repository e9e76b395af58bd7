package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"wefgate/internal/sigmaeval"
)

// cmdSigma evaluates Sigma rules over exported JSON lines (the file
// exporter's output with exporters.schema: ecs) and prints every match.
func cmdSigma(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sigma", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rulesDir := fs.String("rules", "examples/sigma", "directory of Sigma rules (*.yml, *.yaml)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wefgate sigma [-rules DIR] FILE.jsonl... ('-' reads standard input)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("sigma: no input file")
	}
	rules, err := sigmaeval.LoadDir(*rulesDir)
	if err != nil {
		return fmt.Errorf("sigma: %w", err)
	}
	var total sigmaTotals
	for _, name := range fs.Args() {
		if err := sigmaFile(ctx, name, rules, stdout, &total); err != nil {
			return fmt.Errorf("sigma: %w", err)
		}
	}
	fmt.Fprintf(stderr, "records=%d matches=%d rules=%d not_ecs=%d\n", total.records, total.matches, len(rules), total.notECS)
	if total.records > 0 && total.notECS == total.records {
		return fmt.Errorf("sigma: no record was exported with exporters.schema: ecs")
	}
	return nil
}

type sigmaTotals struct{ records, matches, notECS int }

// sigmaFile evaluates the rules over one JSON-lines file and prints
// "FILE:LINE<TAB>RULE ID<TAB>TITLE<TAB>HOST<TAB>EVENT CODE<TAB>RECORD ID" per
// match.
func sigmaFile(ctx context.Context, name string, rules []*sigmaeval.Rule, stdout io.Writer, total *sigmaTotals) error {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	// A record carrying its original XML can be large.
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		total.records++
		ev, err := sigmaeval.Event(sc.Bytes())
		if errors.Is(err, sigmaeval.ErrNotECS) {
			total.notECS++
			continue
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		for _, rule := range rules {
			ok, err := rule.Matches(ctx, ev)
			if err != nil {
				return err
			}
			if ok {
				total.matches++
				fmt.Fprintf(stdout, "%s:%d\t%s\t%s\t%v\t%v\t%v\n", name, line, rule.Name(), rule.Title,
					ev["host.name"], ev["event.code"], ev["winlog.record_id"])
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
