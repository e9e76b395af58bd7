package admin

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wefgate/certs"
)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name     string
		cfg      Config
		wantAddr string
		wantErr  string
	}{
		{"off", Config{}, "", ""},
		{"bare port binds loopback", Config{Address: ":5980"}, "127.0.0.1:5980", ""},
		{"ipv6 loopback", Config{Address: "[::1]:5980"}, "[::1]:5980", ""},
		{"everywhere without protection", Config{Address: "0.0.0.0:5980"}, "", "admin.basic_auth or admin.client_ca_file"},
		{"everywhere with basic auth", Config{Address: "0.0.0.0:5980", BasicAuth: BasicAuth{Username: "ops", PasswordFile: "/pw"}}, "0.0.0.0:5980", ""},
		{"everywhere with client certificates", Config{Address: "0.0.0.0:5980", CertFile: "c", KeyFile: "k", ClientCAFile: "ca"}, "0.0.0.0:5980", ""},
		{"user without password", Config{Address: ":5980", BasicAuth: BasicAuth{Username: "ops"}}, "", "admin.basic_auth"},
		{"client CA without TLS", Config{Address: ":5980", ClientCAFile: "ca"}, "", "admin.client_ca_file"},
		{"cert without key", Config{Address: ":5980", CertFile: "c"}, "", "key_file"},
		{"no port", Config{Address: "localhost"}, "", "admin.address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.cfg
			err := tt.cfg.Validate()
			if tt.cfg != before {
				t.Fatalf("Validate changed the configuration: %+v → %+v", before, tt.cfg)
			}
			tt.cfg.ApplyDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.cfg.Address != tt.wantAddr {
				t.Errorf("address %q, want %q", tt.cfg.Address, tt.wantAddr)
			}
		})
	}
}

func TestBasicAuth(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Address: ":0", BasicAuth: BasicAuth{Username: "ops", PasswordFile: pw}}
	h, err := c.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		user, pass string
		set        bool
		want       int
	}{
		{"", "", false, http.StatusUnauthorized},
		{"ops", "wrong", true, http.StatusUnauthorized},
		{"other", "s3cret", true, http.StatusUnauthorized},
		{"ops", "s3cret", true, http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tt.set {
			req.SetBasicAuth(tt.user, tt.pass)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("%s/%s: %d, want %d", tt.user, tt.pass, rec.Code, tt.want)
		}
		if rec.Code == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("401 without a Basic challenge")
		}
	}
}

// TestClientCertificate serves the admin TLS configuration on loopback and
// connects with and without a client certificate of the configured CA.
func TestClientCertificate(t *testing.T) {
	dir := t.TempDir()
	pki, err := certs.CreatePKI(certs.PKIOptions{Dir: dir, ServerNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := pki.IssueClient("monitoring.example.test")
	if err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(dir, "cas.pem")
	var pem []byte
	for _, f := range []string{certs.RootCAFile, certs.IssuingCAFile} {
		b, err := os.ReadFile(pki.Path(f))
		if err != nil {
			t.Fatal(err)
		}
		pem = append(pem, b...)
	}
	if err := os.WriteFile(chain, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Address: "127.0.0.1:0", CertFile: pki.Path(certs.ServerCertFile), KeyFile: pki.Path(certs.ServerKeyFile), ClientCAFile: chain}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := c.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(tls.NewListener(ln, tlsCfg))
	defer srv.Close()
	url := "https://localhost:" + strings.Split(ln.Addr().String(), ":")[1] + "/"

	with, err := certs.ClientTLSConfig(cc.CertFile, cc.KeyFile, []string{pki.Path(certs.RootCAFile)}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	without := with.Clone()
	without.Certificates, without.GetClientCertificate = nil, nil
	for _, tt := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{{"with a client certificate", with, true}, {"without", without, false}} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: tt.cfg}}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil && resp.StatusCode == http.StatusOK) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
