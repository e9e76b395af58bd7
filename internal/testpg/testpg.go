// Package testpg runs a throw-away PostgreSQL cluster for tests: initdb in
// a temporary directory and a postgres process on a free loopback port,
// started as a child of the test and stopped by its PID at cleanup. No
// system service, no root-owned files left behind.
//
// initdb and postgres refuse to run as root. When the test runs as root
// (CI, make test), both are started as the unprivileged user "nobody"
// through setpriv(1) (util-linux), and the data directory is created owned
// by that user; otherwise they run as the current user.
//
// The binaries are looked up in WEFGATE_PG_BINDIR, then PATH, then
// Debian's /usr/lib/postgresql/<version>/bin (newest version). Tests skip
// when they are missing, unless WEFGATE_REQUIRE_POSTGRES=1 is set, in
// which case they fail.
package testpg

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"wefgate/internal/loopback"

	"github.com/jackc/pgx/v5"
)

// RequireEnv names the environment variable that turns a missing
// PostgreSQL installation from a skip into a failure.
const RequireEnv = "WEFGATE_REQUIRE_POSTGRES"

// unprivileged is the user initdb and postgres run as when the test is
// root.
const unprivileged = "nobody"

// Server is a running throw-away cluster.
type Server struct {
	// URL connects as the superuser "wefgate" to the database "postgres",
	// over TCP on 127.0.0.1 without TLS or password (trust
	// authentication, loopback only).
	URL  string
	Port int
	// CAFile is the PEM CA certificate of the server's TLS certificate
	// (for 127.0.0.1): the server accepts TLS as well as plain TCP.
	CAFile string
	dir    string
	cmd    *exec.Cmd
	done   chan struct{}
}

// BinDir returns the directory holding initdb and postgres, or "" when
// PostgreSQL is not installed.
func BinDir() string {
	if d := os.Getenv("WEFGATE_PG_BINDIR"); d != "" {
		return d
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start creates and starts a cluster, and stops it at test cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := BinDir()
	if bin == "" {
		msg := "testpg: PostgreSQL is not installed (initdb not found); install the Debian package postgresql"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s, err := start(bin)
	if err != nil {
		t.Fatalf("testpg: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("testpg: %v", err)
		}
	})
	return s
}

func start(bin string) (*Server, error) {
	// Not t.TempDir: its parents are private to root, and the cluster may
	// run as another user.
	base, err := os.MkdirTemp("", "wefgate-testpg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: base, done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(base)
		}
	}()
	if err := os.Chmod(base, 0o755); err != nil {
		return nil, err
	}
	data := filepath.Join(base, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	uid, gid, err := runAs()
	if err != nil {
		return nil, err
	}
	if uid >= 0 {
		if err := os.Chown(data, uid, gid); err != nil {
			return nil, err
		}
	}
	initdb := command(uid, gid, filepath.Join(bin, "initdb"), "-D", data, "-U", "wefgate", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if err := s.writeTLS(data, uid, gid); err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	var lastErr error
	// A free port may be taken by another process before postgres binds
	// it; a few attempts make that harmless.
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = s.run(bin, data, uid, gid); lastErr == nil {
			ok = true
			return s, nil
		}
	}
	return nil, lastErr
}

// runAs returns the uid and gid to run PostgreSQL as, or -1 to run as the
// current user.
func runAs() (int, int, error) {
	if os.Geteuid() != 0 {
		return -1, -1, nil
	}
	u, err := user.Lookup(unprivileged)
	if err != nil {
		return 0, 0, fmt.Errorf("running as root, and there is no user %q to run initdb as: %w", unprivileged, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// command runs name as uid:gid through setpriv, which execs it (so the
// PID is the program's own).
func command(uid, gid int, name string, args ...string) *exec.Cmd {
	if uid < 0 {
		return exec.Command(name, args...)
	}
	all := append([]string{"--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), "--clear-groups", "--", name}, args...)
	cmd := exec.Command("setpriv", all...)
	// HOME of the test user is not readable by nobody.
	cmd.Env = append(os.Environ(), "HOME="+os.TempDir())
	return cmd
}

func (s *Server) run(bin, data string, uid, gid int) error {
	port, err := loopback.FreePort()
	if err != nil {
		return err
	}
	logPath := filepath.Join(s.dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	// fsync off: a test cluster needs no crash safety, and the machine's
	// disk is shared with everything else the tests run.
	cmd := command(uid, gid, filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=100", "-c", "shared_buffers=32MB",
		"-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C of the test run is handled by Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	url := fmt.Sprintf("postgres://wefgate@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited: %s", lastLines(out, 20))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, url)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres not ready after 60 s: %v: %s", err, lastLines(out, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.URL, s.Port, s.cmd, s.done = url, port, cmd, done
	return nil
}

// Stop shuts the cluster down (fast shutdown, SIGINT to the postmaster's
// PID; SIGKILL after 30 s) and removes its directory. It is idempotent.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	var err error
	if sigErr := s.cmd.Process.Signal(syscall.SIGINT); sigErr != nil && !errors.Is(sigErr, os.ErrProcessDone) {
		err = fmt.Errorf("stop postgres pid %d: %w", s.cmd.Process.Pid, sigErr)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		err = fmt.Errorf("postgres pid %d did not stop in 30 s; killed", s.cmd.Process.Pid)
	}
	s.cmd = nil
	os.RemoveAll(s.dir)
	return err
}

// Log returns the server's log so far, for failure messages.
func (s *Server) Log() string {
	out, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	return string(out)
}

// CreateDatabase creates an empty database and returns its URL, for tests
// that want a fresh schema on the same cluster.
func (s *Server) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatalf("testpg: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testpg: create database %s: %v", name, err)
	}
	return strings.Replace(s.URL, "/postgres?", "/"+name+"?", 1)
}

// writeTLS creates a throw-away CA and a server certificate for
// 127.0.0.1 in the data directory, readable by the server's user only (as
// PostgreSQL demands of the key).
func (s *Server) writeTLS(data string, uid, gid int) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "testpg CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	s.CAFile = filepath.Join(s.dir, "ca.pem")
	files := []struct {
		path, typ string
		der       []byte
		server    bool
	}{
		{s.CAFile, "CERTIFICATE", caDER, false},
		{filepath.Join(data, "server.crt"), "CERTIFICATE", der, true},
		{filepath.Join(data, "server.key"), "PRIVATE KEY", keyDER, true},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return err
		}
		if f.server && uid >= 0 {
			if err := os.Chown(f.path, uid, gid); err != nil {
				return err
			}
		}
	}
	return nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
