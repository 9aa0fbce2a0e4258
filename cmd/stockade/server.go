package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/ec2api"
	"github.com/stockade/stockade/policy"
	"github.com/stockade/stockade/store/bolt"
)

// serverConfig is everything `stockade server` is told.
type serverConfig struct {
	Listen   string
	DataDir  string
	Quotas   control.Quotas
	Emulator bool
	LogJSON  bool
	LogLevel string

	Enforce   bool
	Lab       bool
	LabPrefix string
	KeepLab   bool
	Resync    time.Duration
}

func serverCmd() *cobra.Command {
	cfg := serverConfig{Listen: "127.0.0.1:8787", DataDir: defaultDataDir(), Quotas: control.DefaultQuotas(), LogLevel: "info",
		Enforce: true, Lab: true, LabPrefix: "stk", Resync: 10 * time.Second}
	var quotas []string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the EC2-compatible API with the embedded store",
		Long: `Run the EC2-compatible API server.

On first start it creates an administrator account and writes its credentials to
<data-dir>/credentials (AWS shared-credentials format, profile "default"). Point the AWS CLI
or any SDK at it with --endpoint-url http://<listen>. Every request must be signed with SigV4
unless --emulator-mode-accept-any-credentials is given.

Run as root, the server also enforces the groups: its agent programs nftables in a router
network namespace per VPC, and every running instance is a lab instance, a network namespace
with its interface's address that its user data runs in (see stockade lab). Without root,
enforcement is off and the server says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, q := range quotas {
				if err := cfg.Quotas.Set(q); err != nil {
					return err
				}
			}
			return runServer(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "address for the API, /metrics and /healthz")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the store, credentials and admin socket")
	f.StringArrayVar(&quotas, "quota", nil, "override a quota, name=value (repeatable): "+fmt.Sprint(cfg.Quotas.Names()))
	f.BoolVar(&cfg.Emulator, "emulator-mode-accept-any-credentials", false,
		"INSECURE: accept any credentials without checking signatures, like moto/LocalStack (account = 12-digit access key ID, else 000000000000)")
	f.BoolVar(&cfg.LogJSON, "log-json", false, "log JSON lines instead of text")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	f.BoolVar(&cfg.Enforce, "enforce", cfg.Enforce, "program nftables so that packets obey the groups (needs root)")
	f.BoolVar(&cfg.Lab, "lab", cfg.Lab, "run every instance as a lab instance (a network namespace); needs --enforce")
	f.StringVar(&cfg.LabPrefix, "lab-prefix", cfg.LabPrefix, "prefix of the namespaces and links the lab creates (1-5 characters)")
	f.BoolVar(&cfg.KeepLab, "keep-lab", cfg.KeepLab, "leave lab namespaces and rulesets in place at shutdown (the next start adopts them)")
	f.DurationVar(&cfg.Resync, "resync", cfg.Resync, "how often the agent reads rulesets back and repairs hand edits")
	return cmd
}

func newLogger(cfg serverConfig) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", cfg.LogLevel, err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
}

func runServer(ctx context.Context, cfg serverConfig) error {
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	if err := cfg.Quotas.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()

	if err := datadir.Prepare(cfg.DataDir); err != nil {
		return err
	}
	st, err := bolt.Open(filepath.Join(cfg.DataDir, "stockade.db"), bolt.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	accounts, err := auth.Open(ctx, st)
	if err != nil {
		return err
	}
	credPath := filepath.Join(cfg.DataDir, "credentials")
	if err := ensureAdmin(ctx, accounts, credPath, log); err != nil {
		return err
	}
	ccfg := control.DefaultConfig()
	ccfg.Quotas, ccfg.Log = cfg.Quotas, log
	svc, err := control.Open(ctx, st, ccfg)
	if err != nil {
		return err
	}
	// Loading decodes every record once; hand that garbage back to the OS now rather than
	// carrying it until the heap has doubled.
	debug.FreeOSMemory()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	acfg := ec2api.DefaultConfig()
	enforceCtx, stopEnforce := context.WithCancel(context.Background())
	defer stopEnforce()
	enf, err := startEnforcement(enforceCtx, cfg, svc, reg, log)
	if err != nil {
		return err
	}
	acfg.Emulator, acfg.Log, acfg.Console = cfg.Emulator, log, enf.console()
	api := ec2api.New(acfg, svc, accounts, ec2api.NewMetrics(reg))
	if cfg.Emulator {
		log.Warn("EMULATOR MODE: signatures are NOT checked and ANY credentials are accepted. Never expose this server to anyone you do not trust.")
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := svc.Err(); err != nil {
			http.Error(w, "store failed; restart the server: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /enforced", enf.serveEnforced)
	mux.Handle("/", api)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	adminLn, err := adminapi.Listen(cfg.DataDir)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	admin := &http.Server{Handler: adminapi.Handler(accounts, func(ctx context.Context, account, region string) (policy.Snapshot, error) {
		var snap policy.Snapshot
		err := svc.View(ctx, control.Tenant{Account: account, Region: region}, func(v control.View) error {
			snap = v.Snapshot()
			return nil
		})
		return snap, err
	}, enf.labList(), log), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	go func() { errc <- admin.Serve(adminLn) }()

	endpoint := "http://" + ln.Addr().String()
	log.Info("stockade server ready", "endpoint", endpoint, "data_dir", cfg.DataDir,
		"credentials", credPath, "startup", time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(os.Stderr, "\nStockade is serving the EC2 API at %s\nTry:\n  AWS_SHARED_CREDENTIALS_FILE=%s aws --endpoint-url %s --region us-east-1 ec2 describe-security-groups\n\n",
		endpoint, credPath, endpoint)

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("server failed", "error", err)
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	admin.Shutdown(shutdownCtx)
	stopEnforce()
	enf.stop()
	log.Info("stockade server stopped")
	return nil
}

// ensureAdmin creates the administrator account on first start and (re)writes its credentials
// file when it is missing.
func ensureAdmin(ctx context.Context, accounts *auth.Registry, path string, log *slog.Logger) error {
	a, ok := accounts.Admin()
	if !ok {
		var err error
		if a, err = accounts.Create(ctx, "admin", true); err != nil {
			return fmt.Errorf("create administrator account: %w", err)
		}
		log.Info("created administrator account", "account", a.ID)
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := auth.WriteCredentials(path, "default", a); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	log.Info("wrote administrator credentials", "path", path, "profile", "default")
	return nil
}
