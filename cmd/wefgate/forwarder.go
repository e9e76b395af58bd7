package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"wefgate/certs"
	"wefgate/wef/eventfile"
	"wefgate/wef/forwarder"
	"wefgate/wef/kerberos"
	"wefgate/wef/sldc"
)

func cmdForwarder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("forwarder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	managerURL := fs.String("url", "", "subscription manager URL, as in the GPO Server= value (required)")
	pkiDir := fs.String("pki", "", "PKI directory (from 'wefgate certs' or the data directory's pki/): issue each simulated host a client certificate")
	certFile := fs.String("cert", "", "client certificate (one host; with -key and -ca)")
	keyFile := fs.String("key", "", "client certificate key")
	var caFiles stringList
	fs.Var(&caFiles, "ca", "CA file to verify the collector's certificate (repeatable)")
	krb5conf := fs.String("krb5conf", os.Getenv("KRB5_CONFIG"), "krb5.conf for Kerberos (http:// URLs)")
	principal := fs.String("principal", "WIN%03d$", "Kerberos client principal, or a printf pattern taking the host number (realm from krb5.conf when omitted)")
	keytab := fs.String("keytab", "", "keytab holding the client principals' keys (Kerberos)")
	scheme := fs.String("scheme", "Kerberos", "HTTP authentication scheme: Kerberos (Windows default) or Negotiate")
	spnPrefix := fs.String("spn-prefix", "HTTP", "service principal prefix: HTTP, or HOST as Windows Server 2025 uses")
	tabFramed := fs.Bool("tab-framed", false, "Kerberos: frame sealed messages with TABs as Debian's pywinrm 0.3.0 does, and require replies framed so")
	hosts := fs.Int("hosts", 1, "number of simulated hosts")
	machine := fs.String("machine", "win%03d.example.test", "host FQDN, or a printf pattern taking the host number")
	eventsFile := fs.String("events", "", "event file to replay: XML (<Events> or <Event>s), or JSON lines from nxlog, OTRF or winlogbeat 6 to 9")
	generate := fs.Uint64("generate", 0, "generate this many synthetic Security events per host (0 with -rate: endless)")
	rate := fs.Float64("rate", 0, "generated events per second per host (0: as fast as the collector takes them)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until the events are delivered, or forever)")
	refresh := fs.Duration("refresh", time.Minute, "GPO Refresh interval")
	stagger := fs.Duration("stagger", 0, "spread the hosts' starts evenly over this long")
	verbose := fs.Bool("v", false, "log every retry and refresh")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *managerURL == "" {
		return fmt.Errorf("forwarder: -url is required")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	o := fleetOptions{
		ManagerURL: *managerURL, PKIDir: *pkiDir, CertFile: *certFile, KeyFile: *keyFile, CAFiles: caFiles,
		Krb5Conf: *krb5conf, Principal: *principal, Keytab: *keytab, Scheme: *scheme, SPNPrefix: *spnPrefix,
		TabFramed: *tabFramed, Hosts: *hosts, Machine: *machine, EventsFile: *eventsFile, Generate: *generate, Rate: *rate,
		Duration: *duration, Refresh: *refresh, Stagger: *stagger,
	}
	res, err := runFleet(ctx, o, logger)
	if res.Hosts > 0 {
		// A set-up error ran no host: a line of zeros would only hide it.
		fmt.Fprintln(stdout, res)
	}
	return err
}

// fleetOptions describe a set of simulated hosts.
type fleetOptions struct {
	ManagerURL, PKIDir, CertFile, KeyFile string
	CAFiles                               []string
	Krb5Conf, Principal, Keytab           string
	Scheme, SPNPrefix                     string
	TabFramed                             bool
	Hosts                                 int
	Machine, EventsFile                   string
	Generate                              uint64
	Rate                                  float64
	Duration, Refresh                     time.Duration
	// Stagger spreads the hosts' starts over this long.
	Stagger time.Duration
	// Host, when set, adjusts each host's configuration (load driver).
	Host func(*forwarder.HostConfig)
	// SourceAddresses gives host i its own loopback source address,
	// 127.1.0.0 + i (per-address connection caps then see one host each,
	// as with real hosts).
	SourceAddresses bool
	// TrustServer skips verifying the gateway's certificate chain: the load
	// driver started that gateway itself, and two ECDSA verifications per
	// full handshake are driver cost that measures nothing.
	TrustServer bool
	// MemoryCerts issues the hosts' certificates in memory, without files
	// (the load driver's thousands of hosts).
	MemoryCerts bool
	// Pool, when > 0, makes generated logs cycle through this many
	// pre-made events without rewriting their record ids, so a host
	// costs nothing per event (the load driver). The hosts share one pool,
	// made for the first host: a fleet of thousands would otherwise hold
	// thousands of copies of events that replay (HostConfig.Bodies) sends
	// once built anyway.
	Pool int
}

// fleetResult sums what the hosts did.
type fleetResult struct {
	forwarder.FleetStats
	Elapsed time.Duration
}

func (r fleetResult) String() string {
	return fmt.Sprintf("hosts=%d events_acked=%d batches=%d heartbeats=%d retries=%d elapsed=%s events_per_second=%.0f",
		r.Hosts, r.EventsAcked, r.Batches, r.Heartbeats, r.Retries, r.Elapsed.Round(time.Millisecond), float64(r.EventsAcked)/r.Elapsed.Seconds())
}

// runFleet builds the simulated hosts and runs them as a forwarder.Fleet
// until their events are delivered, the duration is over, or ctx ends.
func runFleet(ctx context.Context, o fleetOptions, logger *slog.Logger) (fleetResult, error) {
	fleet, closeFleet, err := buildFleet(o, logger)
	if err != nil {
		return fleetResult{}, err
	}
	defer closeFleet()
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	start := time.Now()
	err = fleet.Run(ctx)
	res := fleetResult{FleetStats: fleet.Stats(), Elapsed: time.Since(start)}
	if err != nil {
		return res, fmt.Errorf("forwarder: %w", err)
	}
	return res, nil
}

// buildFleet turns the options into hosts; the returned function releases
// what they hold (Kerberos initiators), also after a failure.
func buildFleet(o fleetOptions, logger *slog.Logger) (_ *forwarder.Fleet, release func(), err error) {
	var closers []func()
	// Kept apart from the named result, which every error return sets to nil.
	releaseAll := func() {
		for _, c := range closers {
			c()
		}
	}
	defer func() {
		if err != nil {
			releaseAll()
		}
	}()
	u, err := url.Parse(o.ManagerURL)
	if err != nil || u.Host == "" {
		return nil, nil, fmt.Errorf("forwarder: bad subscription manager URL %q", o.ManagerURL)
	}
	caFiles := stringList(o.CAFiles)
	var replay []string
	if o.EventsFile != "" {
		if replay, err = eventfile.ReadFile(o.EventsFile); err != nil {
			return nil, nil, fmt.Errorf("forwarder: %w", err)
		}
	}
	endless := o.EventsFile == "" && o.Generate == 0
	var pki *certs.PKI
	if o.PKIDir != "" {
		if pki, err = certs.LoadPKI(o.PKIDir); err != nil {
			return nil, nil, fmt.Errorf("forwarder: %w", err)
		}
		if len(caFiles) == 0 {
			caFiles = stringList{pki.Path(certs.RootCAFile)}
		}
	}
	fleet := &forwarder.Fleet{Stagger: o.Stagger}
	var pool [][]byte
	var roots *x509.CertPool
	for i := 1; i <= o.Hosts; i++ {
		name := o.Machine
		if rePrintfInt.MatchString(name) {
			name = fmt.Sprintf(name, i)
		}
		var source netip.Addr
		if o.SourceAddresses {
			source = loopbackSource(i)
		}
		var sec forwarder.Security
		switch {
		case strings.EqualFold(u.Scheme, "http"):
			p := o.Principal
			if strings.Contains(p, "%") {
				p = fmt.Sprintf(p, i)
			}
			if o.Keytab == "" || o.Krb5Conf == "" {
				return nil, nil, fmt.Errorf("forwarder: an http:// URL needs Kerberos: give -keytab and -krb5conf")
			}
			ini, err := kerberos.NewInitiatorWithKeytab(o.Krb5Conf, p, o.Keytab, logger)
			if err != nil {
				return nil, nil, fmt.Errorf("forwarder: %s: %w", p, err)
			}
			closers = append(closers, ini.Close)
			sec = forwarder.KerberosSecurity{Initiator: ini, Scheme: o.Scheme, SPNPrefix: o.SPNPrefix, TabFramed: o.TabFramed, Source: source}
		case pki != nil && o.MemoryCerts:
			if roots == nil {
				if roots, err = certPool(caFiles); err != nil {
					return nil, nil, fmt.Errorf("forwarder: %w", err)
				}
			}
			c, err := pki.ClientCertificate(name)
			if err != nil {
				return nil, nil, fmt.Errorf("forwarder: %w", err)
			}
			cfg := certs.ClientTLSConfigFor(c, roots, u.Hostname())
			// SChannel resumes TLS sessions: the delivery connection after
			// the enumeration one costs no full handshake. It offers no
			// post-quantum hybrid key exchange.
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			cfg.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
			if o.TrustServer {
				cfg.InsecureSkipVerify = true
			}
			sec = forwarder.TLSSecurity{Config: cfg, Source: source}
		default:
			cert, key := o.CertFile, o.KeyFile
			if pki != nil {
				cc, err := pki.IssueClient(name)
				if err != nil {
					return nil, nil, fmt.Errorf("forwarder: issue certificate for %s: %w", name, err)
				}
				cert, key = cc.CertFile, cc.KeyFile
			}
			if cert == "" || key == "" || len(caFiles) == 0 {
				return nil, nil, fmt.Errorf("forwarder: give -pki, or -cert, -key and -ca")
			}
			tlsCfg, err := certs.ClientTLSConfig(cert, key, caFiles, u.Hostname())
			if err != nil {
				return nil, nil, fmt.Errorf("forwarder: %w", err)
			}
			sec = forwarder.TLSSecurity{Config: tlsCfg, Source: source}
		}
		var log forwarder.Log
		switch {
		case replay != nil:
			log = forwarder.NewStaticLog(replay)
		case o.Pool > 0:
			if pool == nil {
				pool = poolOf(poolEvents(name, int64(i), o.Pool))
			}
			log = pooledLog(pool, o.Rate)
		default:
			log = generatedLog(name, int64(i), o.Generate, o.Rate)
		}
		cfg := forwarder.HostConfig{
			MachineID:       name,
			ManagerURL:      o.ManagerURL,
			Client:          &forwarder.Client{Security: sec, Compress: sldc.Compress},
			Log:             log,
			Logger:          logger,
			Refresh:         o.Refresh,
			StopWhenDrained: !endless,
			MaxRetryWait:    5 * time.Second,
		}
		if o.Host != nil {
			o.Host(&cfg)
		}
		fleet.Hosts = append(fleet.Hosts, forwarder.NewHost(cfg))
	}
	return fleet, releaseAll, nil
}

var (
	reRecordID  = regexp.MustCompile(`<EventRecordID>\d+</EventRecordID>`)
	rePrintfInt = regexp.MustCompile(`%[0-9]*d`)
)

// generatedLog serves synthetic Security events: a pool of realistic
// events whose record ids are rewritten to follow the log's numbering.
func generatedLog(host string, seed int64, total uint64, rate float64) *forwarder.GeneratedLog {
	pool := eventfile.Generate(1000, host, seed)
	return &forwarder.GeneratedLog{
		Channel: "Security",
		Rate:    rate,
		Total:   total,
		Make: func(id uint64) []byte {
			tmpl := pool[int((id-1)%uint64(len(pool)))]
			return reRecordID.ReplaceAll([]byte(tmpl), []byte("<EventRecordID>"+strconv.FormatUint(id, 10)+"</EventRecordID>"))
		},
	}
}

// loopbackSource is 127.1.0.0 + i, inside 127.0.0.0/8 (all loopback).
func loopbackSource(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(1 + i>>16), byte(i >> 8), byte(i)})
}

// certPool loads the CA certificates of files.
func certPool(files []string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, f := range files {
		cs, err := certs.LoadCertificates(f)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

// poolOf returns the events' bytes.
func poolOf(texts []string) [][]byte {
	pool := make([][]byte, len(texts))
	for i, t := range texts {
		pool[i] = []byte(t)
	}
	return pool
}

// pooledLog is an endless log that cycles through pre-made events (shared
// by hosts, never written to).
func pooledLog(pool [][]byte, rate float64) *forwarder.GeneratedLog {
	return &forwarder.GeneratedLog{
		Channel: "Security",
		Rate:    rate,
		Make:    func(id uint64) []byte { return pool[int((id-1)%uint64(len(pool)))] },
	}
}

var reHandleEventID = regexp.MustCompile(`<EventID>(4658|4690)</EventID>`)

// poolEvents picks n generated events with the generator's share of the
// events the gateway keeps (4658, 4690; about a third). The generator
// starts a host with logons and process starts, so its first few events
// hold none: a small pool of them would have the gateway acknowledge and
// drop everything, and a load run would never reach the spool and the
// exporters.
func poolEvents(host string, seed int64, n int) []string {
	all := eventfile.Generate(3*n+48, host, seed)
	var kept, other []string
	for _, e := range all[len(all)/2:] { // past the start-up events
		if reHandleEventID.MatchString(e) {
			kept = append(kept, e)
		} else {
			other = append(other, e)
		}
	}
	half := len(all) - len(all)/2
	k := (n*len(kept) + half/2) / half // the kept share, rounded
	k = min(max(k, min(n, 1)), len(kept), n)
	if n-k > len(other) {
		k = n - len(other)
	}
	out := make([]string, n)
	isKept := make([]bool, n)
	for j := range k {
		isKept[j*n/k] = true // spread over the pool, not bunched
	}
	for i := range out {
		if isKept[i] {
			out[i], kept = kept[0], kept[1:]
		} else {
			out[i], other = other[0], other[1:]
		}
	}
	return out
}
