// Package certs owns wefgate's X.509 side of the HTTPS (port 5986) mode:
// it creates a small PKI (root CA, issuing CA, server and client leaves,
// CRLs, PKCS#12 bundles) with the standard library only, verifies Windows
// forwarders' client certificates on the server, maps a verified
// certificate to the host identity and the issuing CA thumbprint the
// subscription policy must echo, and builds the client TLS configuration
// used by the forwarder simulator.
//
// Facts from the Windows side that shape it:
//   - The GPO IssuerCA value is the SHA-1 thumbprint of the CA that signed
//     the client certificate (the issuing CA, not the root); Thumbprint
//     gives it in Windows' upper case, Identity in the policy's lower case.
//   - Windows presents only its leaf, so the verifier completes chains from
//     configured intermediates instead of relying on crypto/tls.
//   - Windows Server 2012 R2 offers only ECDHE-ECDSA-GCM suites, hence
//     ECDSA P-256 keys throughout, and legacy 3DES/SHA-1 PKCS#12 files.
//   - A handshake without any client certificate is refused by crypto/tls
//     before the verifier runs; it is logged through http.Server.ErrorLog,
//     so point that at the application's slog handler.
package certs
