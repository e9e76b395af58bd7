package certs

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// keyPairReloader serves the server certificate and re-reads its files
// when they change, so a renewed certificate takes effect without a
// restart. Files are examined at most once per interval, during a
// handshake.
type keyPairReloader struct {
	certFile, keyFile string
	interval          time.Duration
	logger            *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	certStamp fileStamp
	keyStamp  fileStamp
	lastCheck time.Time
}

func newKeyPairReloader(certFile, keyFile string, interval time.Duration, logger *slog.Logger) (*keyPairReloader, error) {
	r := &keyPairReloader{certFile: certFile, keyFile: keyFile, interval: interval, logger: logger}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.lastCheck = time.Now()
	return r, nil
}

func (r *keyPairReloader) load() error {
	certStamp, err := statFile(r.certFile)
	if err != nil {
		return fmt.Errorf("load server certificate: %w", err)
	}
	keyStamp, err := statFile(r.keyFile)
	if err != nil {
		return fmt.Errorf("load server key: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load server key pair: %w", err)
	}
	r.cert, r.certStamp, r.keyStamp = &cert, certStamp, keyStamp
	return nil
}

func (r *keyPairReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.lastCheck) >= r.interval {
		r.lastCheck = now
		certStamp, certErr := statFile(r.certFile)
		keyStamp, keyErr := statFile(r.keyFile)
		if certErr == nil && keyErr == nil && (certStamp != r.certStamp || keyStamp != r.keyStamp) {
			// Certificate and key are rarely replaced atomically together;
			// a mismatch now is retried at the next check while the old
			// pair keeps serving.
			if err := r.load(); err != nil {
				r.logger.Error("server certificate reload failed, keeping the previous one", "error", err)
			} else {
				r.logger.Info("server certificate reloaded", "file", r.certFile, "subject", r.cert.Leaf.Subject.CommonName, "not_after", r.cert.Leaf.NotAfter)
			}
		}
	}
	return r.cert, nil
}
