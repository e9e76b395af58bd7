package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
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
	hosts := fs.Int("hosts", 1, "number of simulated hosts")
	machine := fs.String("machine", "win%03d.example.test", "host FQDN, or a printf pattern taking the host number")
	eventsFile := fs.String("events", "", "event file to replay: XML (<Events> or <Event>s) or OTRF/winlogbeat JSON lines")
	generate := fs.Uint64("generate", 0, "generate this many synthetic Security events per host (0 with -rate: endless)")
	rate := fs.Float64("rate", 0, "generated events per second per host (0: as fast as the collector takes them)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until the events are delivered, or forever)")
	refresh := fs.Duration("refresh", time.Minute, "GPO Refresh interval")
	verbose := fs.Bool("v", false, "log every retry and refresh")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *managerURL == "" {
		return fmt.Errorf("forwarder: -url is required")
	}
	u, err := url.Parse(*managerURL)
	if err != nil {
		return fmt.Errorf("forwarder: -url: %w", err)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var replay []string
	if *eventsFile != "" {
		if replay, err = eventfile.ReadFile(*eventsFile); err != nil {
			return fmt.Errorf("forwarder: %w", err)
		}
	}
	endless := *eventsFile == "" && *generate == 0
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	var pki *certs.PKI
	if *pkiDir != "" {
		if pki, err = certs.LoadPKI(*pkiDir); err != nil {
			return fmt.Errorf("forwarder: %w", err)
		}
		if len(caFiles) == 0 {
			caFiles = stringList{pki.Path(certs.RootCAFile)}
		}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		fleet []*forwarder.Host
		start = time.Now()
	)
	for i := 1; i <= *hosts; i++ {
		name := *machine
		if regexp.MustCompile(`%[0-9]*d`).MatchString(name) {
			name = fmt.Sprintf(name, i)
		}
		var sec forwarder.Security
		if strings.EqualFold(u.Scheme, "http") {
			p := *principal
			if strings.Contains(p, "%") {
				p = fmt.Sprintf(p, i)
			}
			if *keytab == "" || *krb5conf == "" {
				return fmt.Errorf("forwarder: an http:// URL needs Kerberos: give -keytab and -krb5conf")
			}
			ini, err := kerberos.NewInitiatorWithKeytab(*krb5conf, p, *keytab, logger)
			if err != nil {
				return fmt.Errorf("forwarder: %s: %w", p, err)
			}
			defer ini.Close()
			sec = forwarder.KerberosSecurity{Initiator: ini, Scheme: *scheme, SPNPrefix: *spnPrefix}
		} else {
			cert, key := *certFile, *keyFile
			if pki != nil {
				cc, err := pki.IssueClient(name)
				if err != nil {
					return fmt.Errorf("forwarder: issue certificate for %s: %w", name, err)
				}
				cert, key = cc.CertFile, cc.KeyFile
			}
			if cert == "" || key == "" || len(caFiles) == 0 {
				return fmt.Errorf("forwarder: give -pki, or -cert, -key and -ca")
			}
			tlsCfg, err := certs.ClientTLSConfig(cert, key, caFiles, u.Hostname())
			if err != nil {
				return fmt.Errorf("forwarder: %w", err)
			}
			sec = forwarder.TLSSecurity{Config: tlsCfg}
		}
		var log forwarder.Log
		switch {
		case replay != nil:
			log = forwarder.NewStaticLog(replay)
		default:
			log = generatedLog(name, int64(i), *generate, *rate)
		}
		h := forwarder.NewHost(forwarder.HostConfig{
			MachineID:       name,
			ManagerURL:      *managerURL,
			Client:          &forwarder.Client{Security: sec, Compress: sldc.Compress},
			Log:             log,
			Logger:          logger,
			Refresh:         *refresh,
			StopWhenDrained: !endless,
			MaxRetryWait:    5 * time.Second,
		})
		fleet = append(fleet, h)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.Run(ctx); err != nil && ctx.Err() == nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var acked, batches, heartbeats, retries uint64
	for _, h := range fleet {
		acked += h.Stats.EventsAcked.Load()
		batches += h.Stats.Batches.Load()
		heartbeats += h.Stats.Heartbeats.Load()
		retries += h.Stats.Retries.Load()
	}
	fmt.Fprintf(stdout, "hosts=%d events_acked=%d batches=%d heartbeats=%d retries=%d elapsed=%s events_per_second=%.0f\n",
		len(fleet), acked, batches, heartbeats, retries, elapsed.Round(time.Millisecond), float64(acked)/elapsed.Seconds())
	if len(errs) > 0 {
		return fmt.Errorf("forwarder: %d host(s) failed, first: %w", len(errs), errs[0])
	}
	return nil
}

var reRecordID = regexp.MustCompile(`<EventRecordID>\d+</EventRecordID>`)

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
