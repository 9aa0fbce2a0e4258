package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/audit"
	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/auth/sigv4"
	"github.com/stockade/stockade/authz"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/ec2api"
	"github.com/stockade/stockade/events"
	"github.com/stockade/stockade/flowlog"
	flowrelay "github.com/stockade/stockade/flowlog/relay"
	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/internal/gcfloor"
	"github.com/stockade/stockade/logstore"
	"github.com/stockade/stockade/logstore/logsapi"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/objstore"
	"github.com/stockade/stockade/objstore/s3api"
	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/bolt"
	"github.com/stockade/stockade/store/etcd"
	"github.com/stockade/stockade/trail"
)

// serverConfig is everything `stockade server` is told.
type serverConfig struct {
	Listen   string
	DataDir  string
	Quotas   control.Quotas
	Emulator bool
	// EmulatorAccount is --emulator-default-account (ec2api.Config.EmulatorDefaultAccount).
	EmulatorAccount string
	// AnyImage launches unknown ImageIds on the default image (control.Config.AnyImage).
	AnyImage bool
	LogJSON  bool
	LogLevel string
	// Regions is the --regions list as given ("": AWS's commercial regions).
	Regions string
	// PublicPool is the --public-pool range (control.Config.PublicPool).
	PublicPool string
	// AWSIPRanges is --aws-ip-ranges, the operator's copy of AWS's ip-ranges.json
	// (control.Config.AWSIPRanges).
	AWSIPRanges string
	// AdmissionPolicy is --admission-policy: the audit checks a write may never introduce
	// (audit.LoadAdmissionPolicy, control.Config.Admission); "" for none.
	AdmissionPolicy string

	Enforce   bool
	Lab       bool
	LabPrefix string
	KeepLab   bool
	Resync    time.Duration
	// InternetAllow and InternetMasquerade are the operator's opt-ins of the internet side
	// (netlab/hostlink.go): host-side ranges instances may reach, and the masquerade to the
	// host's real network.
	InternetAllow      []string
	InternetMasquerade bool
	// Trail records every API call in the change trail and serves LookupEvents (trail.go);
	// TrailMaxBytes bounds the trail's log on disk.
	Trail         bool
	TrailMaxBytes int64
	// TrailReplicaReadBytes is, on a shared store, the budget of reads' records that this
	// server publishes for the others, in compressed bytes a second (trail.ReplicaOptions).
	TrailReplicaReadBytes int
	// Events serves the EventBridge-compatible API and delivers its events (events.go);
	// EventsAllow are ranges webhooks may reach despite the guard (events.Guard).
	Events      bool
	EventsAllow []string
	// FlowLogWindow is the flow-log aggregation window (60 s as on Nitro); a hidden flag
	// shortens it so that tests see records in seconds.
	FlowLogWindow time.Duration
	// Audit runs the continuous audit (monitor.go), configured by AuditConfig (a YAML file
	// as `stockade audit --config` reads; "" for the defaults).
	Audit       bool
	AuditConfig string
	// Etcd is the cluster the state lives in instead of <data-dir>/store.db
	// (--etcd-endpoints and the options etcdctl names alike); none: the embedded store.
	Etcd etcd.Options
}

func serverCmd() *cobra.Command {
	cfg := serverConfig{Listen: "127.0.0.1:8787", DataDir: defaultDataDir(), Quotas: control.DefaultQuotas(), LogLevel: "info",
		Enforce: true, Lab: true, LabPrefix: "stk", Resync: 10 * time.Second, Trail: true, TrailMaxBytes: 4 << 30, TrailReplicaReadBytes: 64 << 10, Events: true,
		FlowLogWindow: flowlog.DefaultWindow, Audit: true}
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
enforcement is off and the server says so.

With --etcd-endpoints the state lives in an etcd cluster instead of <data-dir>/stockade.db
(README, "Store on etcd"); the data directory keeps the credentials, images and trail
exports. Several API servers may serve one --etcd-prefix (docs/etcd.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, q := range quotas {
				if err := cfg.Quotas.Set(q); err != nil {
					return err
				}
			}
			widenProcs()
			defer gcfloor.Start(heapFloor)()
			return runServer(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "address for the API, /metrics and /healthz")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the store, credentials and admin socket")
	f.StringArrayVar(&quotas, "quota", nil, "override a quota, name=value (repeatable): "+fmt.Sprint(cfg.Quotas.Names()))
	f.BoolVar(&cfg.Emulator, "emulator-mode-accept-any-credentials", false,
		"INSECURE: accept any credentials without checking signatures, like moto/LocalStack (account = 12-digit access key ID, else --emulator-default-account)")
	f.StringVar(&cfg.EmulatorAccount, "emulator-default-account", ec2api.DefaultEmulatorAccount,
		"with --emulator-mode-accept-any-credentials: the account (12 digits) of requests whose access key ID is not 12 digits; moto's suites expect 123456789012")
	f.BoolVar(&cfg.AnyImage, "any-image", false,
		"emulator mode for images: an unknown ImageId launches the default image ("+image.DefaultID+") instead of failing with InvalidAMIID.NotFound, as moto accepts any AMI ID; the instance keeps the ID it was given")
	f.StringVar(&cfg.Regions, "regions", "", "comma-separated regions to serve instead of AWS's commercial regions; requests signed for any other region are refused")
	f.StringVar(&cfg.AWSIPRanges, "aws-ip-ranges", "",
		"AWS's ip-ranges.json (curl -o ip-ranges.json https://ip-ranges.amazonaws.com/ip-ranges.json): the entries of the AWS-managed prefix lists (com.amazonaws.<region>.s3, .dynamodb, …) in every region; without it they hold a few us-east-1 ranges only")
	f.StringVar(&cfg.PublicPool, "public-pool", control.DefaultPublicPool.String(),
		"IPv4 CIDR (at least a /29) that Elastic IPs and public addresses are taken from, unique across accounts; the default is RFC 2544's benchmarking block, never routed on the internet")
	f.StringVar(&cfg.AdmissionPolicy, "admission-policy", "",
		"YAML file naming the audit checks a write must never introduce (forbid: [SGA-002, …]), with exemptions and the audit configuration's keys; a write that would introduce one is refused with OperationNotPermitted and changes nothing (README, Admission policies)")
	f.BoolVar(&cfg.LogJSON, "log-json", false, "log JSON lines instead of text")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	f.BoolVar(&cfg.Enforce, "enforce", cfg.Enforce, "program nftables so that packets obey the groups (needs root)")
	f.BoolVar(&cfg.Lab, "lab", cfg.Lab, "run every instance as a lab instance (a network namespace); --enforce needs it, since the routers that enforce exist only for lab instances (--lab=false is a start-up error unless --enforce=false)")
	f.StringVar(&cfg.LabPrefix, "lab-prefix", cfg.LabPrefix, "prefix of the namespaces and links the lab creates (1-5 characters)")
	f.BoolVar(&cfg.KeepLab, "keep-lab", cfg.KeepLab, "leave lab namespaces and rulesets in place at shutdown (the next start adopts them)")
	f.StringArrayVar(&cfg.InternetAllow, "internet-allow", nil,
		"host-side IPv4 CIDR that instances reach through their internet or NAT gateway (repeatable; default none): a link from the lab's internet side to the host's namespace, the host's end at "+netlab.HostLinkHost.Addr().String()+" (e.g. --internet-allow "+netlab.HostLinkHost.Addr().String()+"/32 for a mirror bound there); may not overlap the public pool; 0.0.0.0/0 only with --internet-masquerade")
	f.BoolVar(&cfg.InternetMasquerade, "internet-masquerade", false,
		"CHANGES THE HOST: let instances reach the host's real network and beyond (e.g. to patch at first boot) — forwarding on the link and the default route's device, and a masquerade out of the default route in nftables table ip "+netlab.MasqueradeTable+" (removed on shutdown); implies --internet-allow 0.0.0.0/0")
	f.DurationVar(&cfg.FlowLogWindow, "flow-log-window", cfg.FlowLogWindow, "flow-log aggregation window (1s to 1m; for tests)")
	_ = f.MarkHidden("flow-log-window")
	f.BoolVar(&cfg.Trail, "trail", cfg.Trail,
		"record every API call in the change trail (CloudTrail records, kept 90 days in <data-dir>/"+datadir.TrailLog+"; aws cloudtrail lookup-events; exported as CloudTrail log files under <data-dir>/"+datadir.Trail+")")
	f.Int64Var(&cfg.TrailMaxBytes, "trail-max-bytes", cfg.TrailMaxBytes,
		"bound on the change trail's log on disk, in bytes (about 1.3 KB a call): past it the oldest records are deleted before their 90 days")
	f.IntVar(&cfg.TrailReplicaReadBytes, "trail-replica-read-bytes", cfg.TrailReplicaReadBytes,
		"with --etcd-endpoints: compressed bytes a second of reads' trail records published for the other servers (-1: none; changes' records are always published); past it, reads are in this server's trail only")
	f.BoolVar(&cfg.Events, "events", cfg.Events,
		"serve the EventBridge-compatible API (aws events put-rule …) over the change trail, delivering matched events to webhooks (API destinations), retried for 24 h, then to <data-dir>/events-dead-letter.jsonl")
	f.StringArrayVar(&cfg.EventsAllow, "events-allow-target", nil,
		"CIDR that webhooks may reach although the guard refuses it (repeatable; default none): link-local addresses (cloud metadata) and this server's own listen address are refused otherwise")
	f.DurationVar(&cfg.Resync, "resync", cfg.Resync, "how often the agent reads rulesets back and repairs hand edits")
	f.BoolVar(&cfg.Audit, "audit", cfg.Audit,
		"audit every account continuously: after every change, only what it can affect; each finding's open/closed history (stockade audit --history), the open findings as metrics, and \""+findingDetail+"\" and \""+flapDetail+"\" events on the bus")
	f.StringVar(&cfg.AuditConfig, "audit-config", "", "YAML configuration of the continuous audit, as stockade audit --config reads (authorized ports, suppressions, flapWindow …)")
	etcdFlags(cmd, &cfg.Etcd,
		"comma-separated client URLs of an etcd cluster to keep the state in instead of <data-dir>/"+datadir.Store+" (README, Store on etcd); several servers may share one --etcd-prefix")
	return cmd
}

// etcdFlags adds the options of an etcd client (etcdctl's names) to f: the server's, and
// those of a command that reads the store directly (stockade hosts).
func etcdFlags(cmd *cobra.Command, o *etcd.Options, endpointsUsage string) {
	f := cmd.Flags()
	f.StringSliceVar(&o.Endpoints, "etcd-endpoints", nil, endpointsUsage)
	f.StringVar(&o.Prefix, "etcd-prefix", etcd.DefaultPrefix, "with --etcd-endpoints: the prefix of every key, so that several installations share a cluster")
	f.StringVar(&o.CertFile, "etcd-cert", "", "with --etcd-endpoints: client certificate file (TLS)")
	f.StringVar(&o.KeyFile, "etcd-key", "", "with --etcd-endpoints: client key file (TLS)")
	f.StringVar(&o.CACertFile, "etcd-cacert", "", "with --etcd-endpoints: CA bundle the cluster's certificates are checked against (TLS)")
	f.StringVar(&o.Username, "etcd-username", "", "with --etcd-endpoints: user name, for a cluster with authentication")
	f.StringVar(&o.Password, "etcd-password", "", "with --etcd-endpoints: password of --etcd-username (or $"+etcdPasswordEnv+", which ps does not show)")
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
	if err := checkEmulatorFlags(cfg); err != nil {
		return err
	}
	if cfg.FlowLogWindow == 0 {
		cfg.FlowLogWindow = flowlog.DefaultWindow
	}
	if cfg.FlowLogWindow < time.Second || cfg.FlowLogWindow > time.Minute {
		return fmt.Errorf("--flow-log-window %s: want 1s to 1m", cfg.FlowLogWindow)
	}
	auditCfg, err := cfg.auditConfig()
	if err != nil {
		return err
	}
	regions := sigv4.CommercialRegions()
	if cfg.Regions != "" {
		if regions, err = sigv4.ParseRegions(cfg.Regions); err != nil {
			return fmt.Errorf("--regions: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()

	if _, err := cfg.hostLink(); err != nil {
		return err
	}
	if err := datadir.Prepare(cfg.DataDir); err != nil {
		return err
	}
	ccfg, err := controlConfig(cfg, log)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	// The tenants' records and the trail's log are the start's two long reads (at 10,000
	// groups, half a second of the CPUs each). The state loads while the bus and the trail
	// start, and the API waits for it; the trail's log is read once the state has loaded,
	// while the API serves (its calls wait for it), so that the two do not share the CPUs.
	var (
		accounts *auth.Registry
		svc      *control.Service
		credPath string
		stateErr error
		loading  sync.WaitGroup
		loaded   = make(chan struct{})
	)
	loading.Go(func() {
		defer close(loaded)
		accounts, svc, credPath, stateErr = openState(ctx, st, cfg, ccfg, log)
	})
	defer loading.Wait() // an early return waits for it before the store closes
	// On a shared store, what other servers write reaches this one's memory through the
	// store's watch; the followers stop before the store closes.
	followCtx, stopFollowing := context.WithCancel(context.WithoutCancel(ctx))
	var followers sync.WaitGroup
	defer func() { stopFollowing(); followers.Wait() }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	acfg := ec2api.DefaultConfig()
	var appended func([]*trail.Record)
	var sources auditSources
	var publish publisher
	if cfg.Events {
		eb, err := startEvents(ctx, st, cfg, reg, log)
		if err != nil {
			return err
		}
		defer eb.close() // after the trail has stopped feeding it
		if cfg.shared() {
			// Rules made on other servers match here too (events/shared.go).
			followers.Go(func() { eb.svc.Follow(followCtx) })
		}
		acfg.Events, appended = eb.api, eb.bus.PublishRecords
		sources.events, publish = eb.svc, eb.bus.Publish
	}
	if cfg.Trail {
		tr, err := startTrail(ctx, st, cfg, appended, loaded, reg, log)
		if err != nil {
			return err
		}
		defer tr.close() // after the API has stopped (serve returned), before the store closes
		acfg.Recorder, acfg.Lookup = tr.recorder, tr.lookup
		sources.trail = tr.log
	}
	if loading.Wait(); stateErr != nil {
		return stateErr
	}
	if cfg.shared() {
		followers.Go(func() { accounts.Follow(followCtx) })
	}
	enforceCtx, stopEnforce := context.WithCancel(context.Background())
	defer stopEnforce()
	var enf *enforcement
	if cfg.shared() {
		// Several hosts: each host's agent enforces for the instances placed on it.
		log.Info("the store is shared: enforcement and lab instances are the hosts' agents' (stockade agent), not this server's")
	} else if enf, err = startEnforcement(enforceCtx, cfg, svc, reg, log, nil); err != nil {
		return err
	}
	acfg.Emulator, acfg.Log, acfg.Console, acfg.Regions = cfg.Emulator, log, enf.console(), regions
	acfg.EmulatorDefaultAccount = cfg.EmulatorAccount
	acfg.Booted = enf.booted()
	objects, err := objstore.Open(filepath.Join(cfg.DataDir, datadir.S3), objstore.DefaultLimits())
	if err != nil {
		return err
	}
	defer objects.Close()
	acfg.S3, acfg.S3MaxBody = &s3api.Handler{Store: objects}, objstore.DefaultLimits().MaxObjectBytes
	logs, err := logstore.Open(filepath.Join(cfg.DataDir, datadir.Logs), logstore.DefaultLimits())
	if err != nil {
		return err
	}
	acfg.Logs = &logsapi.Handler{Store: logs}
	// Flow-log records go to the same buckets and log groups the S3 and Logs APIs serve.
	flows := &flowlog.Writer{Objects: objects, Logs: logs, Log: log}
	acfg.FlowLogDelivery = func(id string) (string, string) {
		d := flows.Status(id)
		return d.Status, d.Message
	}
	enf.startFlowLogs(enforceCtx, flows, cfg.FlowLogWindow)
	var api http.Handler
	if cfg.Emulator {
		log.Warn("EMULATOR MODE: signatures are NOT checked and ANY credentials are accepted. Never expose this server to anyone you do not trust.")
		api = ec2api.New(acfg, svc, accounts, ec2api.NewMetrics(reg))
	} else {
		// IAM and STS, and policies enforced on every call: the credentials file's keys are
		// each account's root; IAM users and role sessions get what their policies allow.
		az, front, iamSvc, err := openIAM(ctx, st, accounts, regions, acfg.Recorder, cfg.shared(), log)
		if err != nil {
			return err
		}
		if cfg.shared() {
			followers.Go(func() { iamSvc.Follow(followCtx) })
		}
		acfg.Authorizer = az
		api = withIAM(front, ec2api.New(acfg, svc, accounts, ec2api.NewMetrics(reg)))
	}

	mux := apiMux(svc, api, reg, enf)
	// The agents' flow-log records (stockade agent --api-endpoint): rendered and stored by
	// this server's Writer, as its own lab's are, so that they land in its buckets and log
	// groups and its DescribeFlowLogs reports their delivery.
	mux.Handle(flowrelay.Path, &flowrelay.Handler{Sink: flows, Operator: operatorKey(accounts), Log: log})
	var history adminapi.HistoryFunc
	if cfg.Audit {
		mon := newAuditMonitor(svc, st, sources, publish, auditCfg, reg, log)
		if cfg.shared() {
			// One server audits at a time; the others serve the history it stores.
			host, _ := os.Hostname()
			mon.lease = store.NewLease(st, auditLeaseKey, fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text()[:8]), auditLeaseTTL)
		}
		monCtx, stopMon := context.WithCancel(context.WithoutCancel(ctx))
		var monDone sync.WaitGroup
		monDone.Add(1)
		go func() { defer monDone.Done(); mon.run(monCtx) }()
		defer func() { stopMon(); monDone.Wait() }() // before the bus and the store close
		history = mon.history
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	adminLn, err := adminapi.Listen(cfg.DataDir)
	if err != nil {
		ln.Close()
		return err
	}
	// Headers are small (SigV4 in a header or a presigned URL); a body gets its own deadline
	// and a share of a global byte budget from the API handler, so ReadTimeout is only the
	// outer bound for a request that the handler never reads.
	srv := &http.Server{Handler: withS3(mux, api), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
	admin := &http.Server{Handler: adminapi.WithHosts(adminapi.WithHistory(adminapi.Handler(accounts, adminSnapshot(svc, regions, sources), enf.labList(), log), accounts, history), svc, log),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, MaxHeaderBytes: 64 << 10}

	endpoint := "http://" + ln.Addr().String()
	log.Info("stockade server ready", "endpoint", endpoint, "data_dir", cfg.DataDir,
		"credentials", credPath, "startup", time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(os.Stderr, "\nStockade is serving the EC2 API at %s\nTry:\n  AWS_SHARED_CREDENTIALS_FILE=%s aws --endpoint-url %s --region %s ec2 describe-security-groups\n\n",
		endpoint, credPath, endpoint, regions[0])

	err = serve(ctx, log, listener{"API", srv, ln}, listener{"admin", admin, adminLn})
	stopEnforce()
	enf.stop()
	if err != nil {
		return err
	}
	log.Info("stockade server stopped")
	return nil
}

// controlConfig is the control service's configuration from the flags, read before anything
// opens: a bad --admission-policy, --public-pool or --aws-ip-ranges changes nothing.
func controlConfig(cfg serverConfig, log *slog.Logger) (control.Config, error) {
	ccfg := control.DefaultConfig()
	ccfg.Quotas, ccfg.Log, ccfg.Shared = cfg.Quotas, log, cfg.shared()
	ccfg.Images, ccfg.AnyImage = image.Open(filepath.Join(cfg.DataDir, datadir.Images)), cfg.AnyImage
	var err error
	if cfg.PublicPool != "" {
		if ccfg.PublicPool, err = netip.ParsePrefix(cfg.PublicPool); err != nil {
			return ccfg, fmt.Errorf("--public-pool: %w", err)
		}
	}
	if cfg.AWSIPRanges != "" {
		f, err := os.Open(cfg.AWSIPRanges)
		if err != nil {
			return ccfg, fmt.Errorf("--aws-ip-ranges: %w", err)
		}
		ccfg.AWSIPRanges, err = control.ParseAWSIPRanges(f)
		f.Close()
		if err != nil {
			return ccfg, fmt.Errorf("--aws-ip-ranges %s: %w", cfg.AWSIPRanges, err)
		}
		log.Info("AWS-managed prefix lists from ip-ranges.json", "file", cfg.AWSIPRanges, "syncToken", ccfg.AWSIPRanges.SyncToken, "created", ccfg.AWSIPRanges.CreateDate)
	}
	if cfg.AdmissionPolicy != "" {
		admission, err := audit.LoadAdmissionPolicy(cfg.AdmissionPolicy)
		if err != nil {
			return ccfg, fmt.Errorf("--admission-policy: %w", err)
		}
		ccfg.Admission = admission.Hook(ccfg.Now)
		log.Info("admission policy", "file", cfg.AdmissionPolicy, "forbid", admission.Forbid, "exemptions", len(admission.Exemptions))
	}
	return ccfg, nil
}

// openState opens the account registry (making the administrator and its credentials file
// on first start) and the control service over the store.
func openState(ctx context.Context, st store.Store, cfg serverConfig, ccfg control.Config, log *slog.Logger) (accounts *auth.Registry, svc *control.Service, credPath string, err error) {
	if accounts, err = auth.Open(ctx, st); err != nil {
		return nil, nil, "", err
	}
	credPath = filepath.Join(cfg.DataDir, datadir.Credentials)
	if err = ensureAdmin(ctx, accounts, credPath, log); err != nil {
		return nil, nil, "", err
	}
	if svc, err = control.Open(ctx, st, ccfg); err != nil {
		return nil, nil, "", err
	}
	// Loading decodes every record once; hand that garbage back to the OS now rather than
	// carrying it until the heap has doubled. It is a collection of the whole state (a tenth
	// of a second at 10,000 groups), and the start waits for it: beside the start, the
	// server was ready with 50-70 MB more.
	releaseMemory(st, log)
	return accounts, svc, credPath, nil
}

// releaseMemory hands back to the system what a long read of the state left behind: the
// heap's garbage, and the embedded store's file pages that the read mapped in. bbolt reads
// its file through a memory map, and the open and the load read every page of it (290 MB at
// 10,000 groups × 20 rules), which the server does not read again: it serves from memory
// (store/bolt/release.go).
func releaseMemory(st store.Store, log *slog.Logger) {
	debug.FreeOSMemory()
	if m, ok := st.(mappedStore); ok {
		if err := m.ReleaseMapped(); err != nil {
			log.Warn("could not drop the store file's pages from memory", "error", err)
		}
	}
}

// mappedStore is a store read through a memory map of its file: the embedded store.
type mappedStore interface{ ReleaseMapped() error }

// etcdPasswordEnv holds --etcd-password when the flag is not given: a command line is visible
// to every user of the host.
const etcdPasswordEnv = "STOCKADE_ETCD_PASSWORD"

// openStore opens the etcd cluster of --etcd-endpoints, or else the embedded store in the
// data directory.
func openStore(ctx context.Context, cfg serverConfig, log *slog.Logger) (store.Store, error) {
	// The trail's records are read by LookupEvents and Export, never watched: out of the
	// watch history they are written once and leave the history to the changes it serves.
	unwatched := []string{trail.Prefix, events.Prefix, auditPrefix}
	if len(cfg.Etcd.Endpoints) > 0 {
		opts := cfg.Etcd
		opts.Unwatched = unwatched
		if opts.Password == "" {
			opts.Password = os.Getenv(etcdPasswordEnv)
		}
		// Several servers may serve one prefix: the control service, IAM and the accounts
		// follow each other's writes (control/shared.go, iam/shared.go).
		st, err := etcd.Open(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("--etcd-endpoints: %w", err)
		}
		log.Info("store on etcd", "endpoints", opts.Endpoints, "prefix", opts.Prefix, "revision", st.Revision())
		return st, nil
	}
	// The trail's outbox is staged: each change's record is kept beside the change's history
	// entry until the record is in the trail's log, which saves every change the pages of a
	// second path through the key B-tree (store/bolt/staged.go).
	st, err := bolt.Open(filepath.Join(cfg.DataDir, datadir.Store), bolt.Options{Unwatched: unwatched, Staged: []string{trail.OutboxPrefix}})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// openIAM opens the IAM and STS state over st with the policy evaluator plugged in, and the
// front that serves IAM and STS calls, recording them in the trail when rec is not nil. On a
// shared store (several servers on one etcd) the caller runs the service's Follow.
func openIAM(ctx context.Context, st store.Store, accounts *auth.Registry, regions []string, rec *trail.Recorder, shared bool, log *slog.Logger) (*authz.Authorizer, *authz.Front, *iam.Service, error) {
	az, err := authz.New(ctx, st, accounts, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	icfg := az.IAMConfig()
	icfg.Shared = shared
	iamSvc, err := iam.Open(ctx, st, icfg)
	if err != nil {
		return nil, nil, nil, err
	}
	az.Bind(iamSvc)
	front, err := authz.NewFront(az, iamSvc, authz.FrontConfig{Regions: regions, Log: log, Recorder: rec})
	if err != nil {
		return nil, nil, nil, err
	}
	return az, front, iamSvc, nil
}

// withIAM sends calls signed for IAM or STS to front and every other to api: the AWS CLI
// sends all three to the one --endpoint-url, and only the credential scope tells them apart.
func withIAM(front, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if authz.Serves(r) {
			front.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// withS3 sends calls signed for S3 straight to api: their paths are bucket names and keys,
// which the mux would clean ("a/../b") and which may be the mux's own (/metrics).
func withS3(mux, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ec2api.ServesS3(r) {
			api.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// apiMux routes the API listener: health, metrics, the enforcement watermark and the EC2 API.
func apiMux(svc *control.Service, api http.Handler, reg *prometheus.Registry, enf *enforcement) *http.ServeMux {
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
	return mux
}

// adminSnapshot is the admin API's view of one account's network in one region, with the
// instances, launch templates (their versions) and flow logs the auditor reads beside it,
// and from sources the alert rules' patterns and the day's rule changes.
func adminSnapshot(svc *control.Service, regions []string, sources auditSources) adminapi.SnapshotFunc {
	return func(ctx context.Context, account, region string) (adminapi.State, error) {
		st := adminapi.State{Regions: regions}
		if !slices.Contains(regions, region) { // as at the API: no state for a region not served
			return st, fmt.Errorf("region %q is not served (see --regions)", region)
		}
		err := svc.View(ctx, control.Tenant{Account: account, Region: region}, func(v control.View) error {
			st.Snapshot = v.Snapshot()
			st.Instances, st.LaunchTemplates, st.LaunchTemplateVersions, st.FlowLogs = auditExtras(v)
			return nil
		})
		if err != nil {
			return st, err
		}
		st.AlertPatterns, st.RuleChangeRecords, err = sources.read(account, region, time.Now())
		return st, err
	}
}

// listener is one HTTP server and the listener it serves.
type listener struct {
	name string
	srv  *http.Server
	ln   net.Listener
}

// serve runs every server until ctx ends, then shuts them all down. A server that stops
// serving on its own (its listener failed) shuts the others down too and is the error
// returned, so that the process exits non-zero rather than running without its API or its
// admin socket.
func serve(ctx context.Context, log *slog.Logger, ls ...listener) error {
	type stopped struct {
		name string
		err  error
	}
	done := make(chan stopped, len(ls))
	for _, l := range ls {
		go func() { done <- stopped{l.name, l.srv.Serve(l.ln)} }()
	}
	var failed error
	running := len(ls)
	select {
	case <-ctx.Done():
	case s := <-done: // Serve returns only on failure until Shutdown is called
		running--
		failed = fmt.Errorf("%s listener failed: %w", s.name, s.err)
		log.Error("server failed", "listener", s.name, "error", s.err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, l := range ls {
		l.srv.Shutdown(shutdownCtx)
	}
	// Wait for every Serve to return: one whose goroutine had not yet started when Shutdown
	// ran closes its listener only then, and a caller that returns before it would leave the
	// port accepting.
	for ; running > 0; running-- {
		<-done
	}
	return failed
}

// ensureAdmin creates the administrator account on first start and (re)writes its credentials
// file when it is missing.
func ensureAdmin(ctx context.Context, accounts *auth.Registry, path string, log *slog.Logger) error {
	a, ok := accounts.Admin()
	if !ok {
		var err error
		a, err = accounts.Create(ctx, "admin", true)
		switch {
		case errors.Is(err, auth.ErrNameTaken):
			// Another server on the same store made it first: every server writes the same
			// credentials.
			if err := accounts.Refresh(ctx); err != nil {
				return err
			}
			if a, ok = accounts.Admin(); !ok {
				return fmt.Errorf("create administrator account: the name admin belongs to an account that is not the administrator")
			}
		case err != nil:
			return fmt.Errorf("create administrator account: %w", err)
		default:
			log.Info("created administrator account", "account", a.ID)
		}
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

// operatorKey is the administrator account's key, the only one that may deliver an agent's
// flow-log records (flowrelay.Handler.Operator).
func operatorKey(accounts *auth.Registry) func() (string, string, bool) {
	return func() (string, string, bool) {
		a, ok := accounts.Admin()
		return a.AccessKeyID, a.SecretAccessKey, ok
	}
}

// shared reports whether other API servers may write the same store: a store on etcd.
func (cfg serverConfig) shared() bool { return len(cfg.Etcd.Endpoints) > 0 }

// hostLink is the internet side's opt-in of the flags, checked: refused flags are a start-up
// error whether or not the server enforces.
func (cfg serverConfig) hostLink() (netlab.HostLink, error) {
	pool := control.DefaultPublicPool
	if cfg.PublicPool != "" {
		p, err := netip.ParsePrefix(cfg.PublicPool)
		if err != nil {
			return netlab.HostLink{}, fmt.Errorf("--public-pool: %w", err)
		}
		pool = p
	}
	return netlab.NewHostLink(netlab.Names{Prefix: cfg.LabPrefix}, cfg.InternetAllow, cfg.InternetMasquerade, pool)
}

// auditConfig is the continuous audit's configuration: --audit-config read over the
// catalogue's defaults, checked before anything starts.
func (cfg serverConfig) auditConfig() (audit.Config, error) {
	if cfg.AuditConfig == "" {
		return audit.DefaultConfig(), nil
	}
	if !cfg.Audit {
		return audit.Config{}, errors.New("--audit-config configures the continuous audit: not with --audit=false")
	}
	c, err := audit.LoadConfig(cfg.AuditConfig)
	if err != nil {
		return audit.Config{}, fmt.Errorf("--audit-config: %w", err)
	}
	return c, nil
}

// checkEmulatorFlags validates --emulator-default-account before anything starts: 12 digits,
// and only together with emulator mode, where it has a meaning (a server that checks
// signatures takes every account from the key's registration).
func checkEmulatorFlags(cfg serverConfig) error {
	if cfg.EmulatorAccount == "" { // a config built in code, not from flags
		return nil
	}
	if err := ec2api.CheckEmulatorAccount(cfg.EmulatorAccount); err != nil {
		return fmt.Errorf("--emulator-default-account: %w", err)
	}
	if !cfg.Emulator && cfg.EmulatorAccount != ec2api.DefaultEmulatorAccount {
		return errors.New("--emulator-default-account needs --emulator-mode-accept-any-credentials")
	}
	return nil
}
