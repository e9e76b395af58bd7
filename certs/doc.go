// Package certs owns wefgate's X.509 side of the HTTPS (port 5986) mode:
// it creates a small PKI (root CA, issuing CA, server and client leaves,
// CRLs) with crypto/x509 only, verifies Windows forwarders' client
// certificates on the server (leaf-only chains completed with configured
// intermediates, clientAuth EKU, per-issuer CRL), maps a verified
// certificate to the host identity and the issuing CA thumbprint the
// subscription policy must echo, and builds the client TLS configuration
// used by the forwarder simulator.
package certs
