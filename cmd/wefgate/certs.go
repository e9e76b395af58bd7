package main

import (
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"wefgate/certs"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

func cmdCerts(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "wefgate-pki", "directory for the PKI files (an existing PKI there is reused)")
	var servers, clients stringList
	fs.Var(&servers, "server", "server DNS name or IP as written in the GPO URL (repeatable; first is the CN)")
	fs.Var(&clients, "client", "client host FQDN to issue a certificate for (repeatable or comma-separated)")
	validity := fs.Duration("validity", 0, "leaf certificate lifetime (default: the package default)")
	crlURL := fs.String("crl-url", "", "HTTP base URL where the CRL files will be published (CDP in the certificates)")
	var revoke stringList
	fs.Var(&revoke, "revoke", "client FQDN whose certificate to revoke (repeatable); wefgate picks the new CRL up without a restart")
	refreshCRL := fs.Bool("refresh-crl", false, "re-sign the CRLs (run before they expire; they last 30 days)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pki, err := certs.LoadPKI(*dir)
	if err != nil {
		if len(servers) == 0 {
			return fmt.Errorf("no PKI in %s yet: give -server NAME to create one", *dir)
		}
		pki, err = certs.CreatePKI(certs.PKIOptions{Dir: *dir, ServerNames: servers, Validity: *validity, CRLBaseURL: *crlURL})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created PKI in %s (server certificate for %s)\n", *dir, strings.Join(servers, ", "))
	} else if err := checkCRLURL(pki, *crlURL); err != nil {
		return err
	} else if len(servers) > 0 {
		if err := pki.IssueServer(servers...); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "issued a new server certificate for %s\n", strings.Join(servers, ", "))
	}
	for _, fqdn := range revoke {
		cert, err := loadClientCert(pki, fqdn)
		if err != nil {
			return err
		}
		if err := pki.Revoke(cert.SerialNumber); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s (serial %s)\n", fqdn, cert.SerialNumber.Text(16))
	}
	if *refreshCRL {
		if err := pki.RefreshCRL(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "CRLs re-signed")
	}
	for _, c := range clients {
		cc, err := pki.IssueClient(c)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "client %s: %s, %s", cc.FQDN, cc.CertFile, cc.KeyFile)
		if cc.PKCS12File != "" {
			fmt.Fprintf(stdout, ", %s (import into LocalMachine\\My)", cc.PKCS12File)
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "IssuerCA thumbprint: %s\n", pki.IssuerThumbprint())
	fmt.Fprintf(stdout, "Import %s into Trusted Root Certification Authorities and %s into Intermediate Certification Authorities on the hosts.\n",
		pki.Path(certs.RootCAFile), pki.Path(certs.IssuingCAFile))
	return nil
}

func loadClientCert(pki *certs.PKI, fqdn string) (*x509.Certificate, error) {
	path := filepath.Join(pki.Dir, certs.ClientsDir, strings.ToLower(fqdn)+".pem")
	cs, err := certs.LoadCertificates(path)
	if err != nil {
		return nil, fmt.Errorf("no client certificate for %s: %w", fqdn, err)
	}
	return cs[0], nil
}

// checkCRLURL refuses a -crl-url that an existing PKI cannot honour: the
// CRL distribution point of the issuing CA is fixed when the CAs are
// created, and leaves issued later would carry a CDP (or none) other than
// the one asked for, which Windows would then fail to check.
func checkCRLURL(pki *certs.PKI, crlURL string) error {
	want := strings.TrimRight(crlURL, "/")
	if want == "" {
		return nil
	}
	have := ""
	for _, dp := range pki.Issuing.CRLDistributionPoints {
		if base, ok := strings.CutSuffix(dp, "/"+certs.RootCRLFile); ok {
			have = base
		}
	}
	if have == want {
		return nil
	}
	if have == "" {
		return fmt.Errorf("-crl-url %s: the PKI in %s was created without a CRL URL, and its CAs cannot get one: create a new PKI in another -dir", crlURL, pki.Dir)
	}
	return fmt.Errorf("-crl-url %s: the PKI in %s publishes its CRLs at %s, fixed in its CAs: give that URL, or create a new PKI in another -dir", crlURL, pki.Dir, have)
}
