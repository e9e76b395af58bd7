package main

import (
	"errors"
	"fmt"
	"os"

	"wefgate/config"
	"wefgate/exporters/otlp"
	"wefgate/subscriptions"
)

// configFile is a file the configuration names, with the key naming it.
type configFile struct{ key, path string }

// configFiles lists the files the enabled parts of cfg read at start:
// certificates, keys, CA and CRL files, the keytab, the admin password.
func configFiles(cfg *config.Config) []configFile {
	var files []configFile
	add := func(key, path string) {
		if path != "" {
			files = append(files, configFile{key, path})
		}
	}
	on := func(b *bool) bool { return b == nil || *b }
	if on(cfg.HTTPS.Enabled) {
		add("https.server_cert", cfg.HTTPS.ServerCert)
		add("https.server_key", cfg.HTTPS.ServerKey)
		for i, f := range cfg.HTTPS.CAFiles {
			add(fmt.Sprintf("https.ca_files[%d]", i), f)
		}
		for i, f := range cfg.HTTPS.CRLFiles {
			add(fmt.Sprintf("https.crl_files[%d]", i), f)
		}
	}
	if cfg.HTTP.Enabled != nil && *cfg.HTTP.Enabled {
		add("http.keytab", cfg.HTTP.Keytab)
	}
	if cfg.Admin.Address != "" {
		add("admin.cert_file", cfg.Admin.CertFile)
		add("admin.key_file", cfg.Admin.KeyFile)
		add("admin.client_ca_file", cfg.Admin.ClientCAFile)
		add("admin.basic_auth.password_file", cfg.Admin.BasicAuth.PasswordFile)
	}
	if cfg.Exporters.OTLP.Enabled != nil && *cfg.Exporters.OTLP.Enabled {
		add("exporters.otlp.ca_file", cfg.Exporters.OTLP.CAFile)
		add("exporters.otlp.cert_file", cfg.Exporters.OTLP.CertFile)
		add("exporters.otlp.key_file", cfg.Exporters.OTLP.KeyFile)
	}
	if cfg.State.Backend == subscriptions.BackendPostgres {
		add("state.postgres.ca_file", cfg.State.Postgres.CAFile)
		add("state.postgres.cert_file", cfg.State.Postgres.CertFile)
		add("state.postgres.key_file", cfg.State.Postgres.KeyFile)
	}
	return files
}

// checkConfigFiles reads every file cfg names. check-config runs before
// each start of the service (ExecStartPre, as the service's user), so a
// file that is missing or unreadable by that user is reported there, with
// its key, rather than by the start that follows.
func checkConfigFiles(cfg *config.Config) error {
	var errs []error
	for _, f := range configFiles(cfg) {
		if _, err := os.ReadFile(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.key, err))
		}
	}
	// The OTLP exporter also reads OTEL_EXPORTER_OTLP_* at start; a
	// malformed one stops the service, so it is checked here too.
	if cfg.Exporters.OTLP.Enabled != nil && *cfg.Exporters.OTLP.Enabled {
		if err := otlp.CheckEnvironment(cfg.Exporters.OTLP.Config); err != nil {
			errs = append(errs, fmt.Errorf("exporters.otlp: %w", err))
		}
	}
	return errors.Join(errs...)
}
