package server

import "testing"

func TestListenerConfigValidate(t *testing.T) {
	on := true
	tests := []struct {
		name     string
		validate func() error
		want     string
	}{
		{"https defaults", func() error { c := DefaultHTTPSConfig(); return c.Validate() }, ""},
		{"http defaults", func() error { c := DefaultHTTPConfig(); return c.Validate() }, ""},
		{"cert without key", func() error { c := DefaultHTTPSConfig(); c.ServerCert = "s.pem"; return c.Validate() },
			"https: set both server_cert and server_key, or neither"},
		{"own cert without CAs", func() error {
			c := DefaultHTTPSConfig()
			c.ServerCert, c.ServerKey = "s.pem", "s.key"
			return c.Validate()
		}, "https: ca_files is required with your own server certificate"},
		{"bad cipher suite", func() error { c := DefaultHTTPSConfig(); c.CipherSuites = []string{"NOPE"}; return c.Validate() },
			"cipher_suites: "},
		{"insecure cipher suite", func() error {
			c := DefaultHTTPSConfig()
			c.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_RSA_WITH_RC4_128_SHA"}
			return c.Validate()
		}, `cipher_suites: cipher suite "TLS_RSA_WITH_RC4_128_SHA" is insecure`},
		{"CBC suite for old hosts", func() error {
			c := DefaultHTTPSConfig()
			c.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"}
			return c.Validate()
		}, ""},
		{"bad address", func() error { c := DefaultHTTPSConfig(); c.Address = "5986"; return c.Validate() },
			`address "5986": address 5986: missing port in address`},
		{"port out of range", func() error { c := DefaultHTTPSConfig(); c.Address = "127.0.0.1:99999"; return c.Validate() },
			`address "127.0.0.1:99999": port "99999" is not a number from 0 to 65535 nor a service name`},
		{"advertised port", func() error { c := DefaultHTTPConfig(); c.AdvertisedPort = 65536; return c.Validate() },
			"advertised_port 65536 out of range"},
		{"kerberos without keytab", func() error { c := DefaultHTTPConfig(); c.Enabled = &on; return c.Validate() },
			"http: the Kerberos listener needs a keytab"},
	}
	for _, tt := range tests {
		err := tt.validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		case tt.want != "" && (err == nil || len(err.Error()) < len(tt.want) || err.Error()[:len(tt.want)] != tt.want):
			t.Errorf("%s: Validate() = %v, want %q…", tt.name, err, tt.want)
		}
	}
}
