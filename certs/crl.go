package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultFileCheckInterval bounds how often CRL and server certificate
// files are examined for changes when VerifierConfig.FileCheckInterval is
// zero.
const DefaultFileCheckInterval = 5 * time.Second

// parseCRL accepts a DER CRL or one PEM "X509 CRL" block.
func parseCRL(data []byte) (*x509.RevocationList, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("unexpected PEM block %q, want X509 CRL", block.Type)
		}
		data = block.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("parse CRL: %w", err)
	}
	return crl, nil
}

// fileStamp identifies a version of a file cheaply; size catches rewrites
// within the file system's timestamp granularity.
type fileStamp struct {
	modTime time.Time
	size    int64
}

func statFile(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{modTime: fi.ModTime(), size: fi.Size()}, nil
}

// crlSet is the revocation state of the configured CRL files, keyed by the
// thumbprint of the CA that signed each CRL. It rereads the files when
// they change, checking at most once per interval on the verification
// path itself, so no background goroutine is needed.
type crlSet struct {
	files    []string
	cas      []*x509.Certificate
	interval time.Duration
	logger   *slog.Logger

	// mu is read-locked by every request's lookup and write-locked only
	// to re-read the files (every interval): thousands of connections
	// look up at once.
	mu        sync.RWMutex
	lastCheck time.Time
	stamps    []fileStamp
	revoked   map[string]map[string]struct{} // issuer thumbprint → serial bytes
}

func newCRLSet(files []string, cas []*x509.Certificate, interval time.Duration, logger *slog.Logger) (*crlSet, error) {
	s := &crlSet{files: files, cas: cas, interval: interval, logger: logger}
	stamps, revoked, err := s.load()
	if err != nil {
		return nil, err
	}
	s.stamps, s.revoked, s.lastCheck = stamps, revoked, time.Now()
	return s, nil
}

// lookup reports whether a CRL signed by issuer is configured, and whether
// serial is on it.
func (s *crlSet) lookup(issuer *x509.Certificate, serial *big.Int) (covered, revoked bool) {
	key, now := crlKey(issuer), time.Now()
	s.mu.RLock()
	if now.Sub(s.lastCheck) >= s.interval {
		s.mu.RUnlock()
		s.mu.Lock()
		s.refreshLocked(now)
		s.mu.Unlock()
		s.mu.RLock()
	}
	defer s.mu.RUnlock()
	serials, ok := s.revoked[key]
	if !ok {
		return false, false
	}
	_, revoked = serials[string(serial.Bytes())]
	return true, revoked
}

func (s *crlSet) refreshLocked(now time.Time) {
	if now.Sub(s.lastCheck) < s.interval {
		return
	}
	s.lastCheck = now
	changed := false
	for i, path := range s.files {
		stamp, err := statFile(path)
		if err != nil {
			s.logger.Error("CRL file unreadable, keeping the revocation list loaded earlier", "file", path, "error", err)
			return
		}
		if stamp != s.stamps[i] {
			changed = true
		}
	}
	if !changed {
		return
	}
	stamps, revoked, err := s.load()
	if err != nil {
		// A CRL caught mid-copy or signed by the wrong key must not wipe
		// the revocations already known; the next check retries.
		s.logger.Error("CRL reload failed, keeping the revocation list loaded earlier", "error", err)
		return
	}
	s.stamps, s.revoked = stamps, revoked
	s.logger.Info("CRL files reloaded", "files", strings.Join(s.files, ","))
}

func (s *crlSet) load() ([]fileStamp, map[string]map[string]struct{}, error) {
	stamps := make([]fileStamp, len(s.files))
	revoked := make(map[string]map[string]struct{})
	for i, path := range s.files {
		stamp, err := statFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("load CRL: %w", err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("load CRL: %w", err)
		}
		crl, err := parseCRL(data)
		if err != nil {
			return nil, nil, fmt.Errorf("load CRL %s: %w", path, err)
		}
		issuer, err := s.issuerOf(crl)
		if err != nil {
			return nil, nil, fmt.Errorf("load CRL %s: %w", path, err)
		}
		if !crl.NextUpdate.IsZero() && time.Now().After(crl.NextUpdate) {
			// Still used: its entries remain revoked, and refusing every
			// client over a late CRL would turn a publishing delay into
			// an outage.
			s.logger.Warn("CRL is past its next update time", "file", path, "issuer", issuer.Subject.CommonName, "next_update", crl.NextUpdate)
		}
		key := crlKey(issuer)
		serials := revoked[key]
		if serials == nil {
			serials = make(map[string]struct{})
			revoked[key] = serials
		}
		for _, e := range crl.RevokedCertificateEntries {
			serials[string(e.SerialNumber.Bytes())] = struct{}{}
		}
		stamps[i] = stamp
	}
	return stamps, revoked, nil
}

// crlKey names a CA by subject and public key, which is what a CRL is
// bound to: a CA certificate renewed with the same key (a different
// thumbprint) issues under the same CRL, and keying by thumbprint would let
// leaves chained through the renewed certificate escape revocation.
func crlKey(ca *x509.Certificate) string {
	return string(ca.RawSubject) + "\x00" + string(ca.RawSubjectPublicKeyInfo)
}

// issuerOf finds the configured CA whose signature the CRL carries.
func (s *crlSet) issuerOf(crl *x509.RevocationList) (*x509.Certificate, error) {
	var sigErr error
	for _, ca := range s.cas {
		if !bytes.Equal(ca.RawSubject, crl.RawIssuer) {
			continue
		}
		if err := crl.CheckSignatureFrom(ca); err != nil {
			sigErr = err
			continue
		}
		return ca, nil
	}
	if sigErr != nil {
		return nil, fmt.Errorf("CRL signature does not verify with any configured CA of that name: %w", sigErr)
	}
	return nil, errors.New("CRL issuer is not among the configured CAs")
}
