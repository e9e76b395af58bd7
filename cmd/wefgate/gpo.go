package main

import (
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"wefgate/certs"
	"wefgate/config"
	"wefgate/internal/app"
)

func cmdGPO(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gpo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	refresh := fs.Int("refresh", 60, "GPO Refresh interval in seconds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	var thumbs []string
	if *cfg.HTTPS.Enabled {
		mat, err := app.EnsureTLS(cfg, slog.New(slog.NewTextHandler(stderr, nil)))
		if err != nil {
			return err
		}
		if thumbs, err = issuerThumbprints(mat.CAFiles); err != nil {
			return err
		}
	}
	printGPO(stdout, cfg, *refresh, thumbs)
	return nil
}

func printGPO(w io.Writer, cfg *config.Config, refresh int, thumbs []string) {
	fmt.Fprintln(w, `GPO: Computer Configuration > Policies > Administrative Templates > Windows Components >`)
	fmt.Fprintln(w, `     Event Forwarding > Configure target Subscription Manager, one value per line:`)
	for _, v := range app.GPOValues(cfg, refresh, thumbs) {
		fmt.Fprintln(w, "  "+v)
	}
}

// issuerThumbprints returns the thumbprints of the configured CAs that
// issue host certificates, the GPO IssuerCA values.
func issuerThumbprints(caFiles []string) ([]string, error) {
	var all []*x509.Certificate
	for _, f := range caFiles {
		cs, err := certs.LoadCertificates(f)
		if err != nil {
			return nil, err
		}
		all = append(all, cs...)
	}
	var out []string
	for _, c := range certs.ClientIssuers(all) {
		out = append(out, certs.Thumbprint(c))
	}
	return out, nil
}
