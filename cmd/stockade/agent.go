package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/cluster"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/flowlog"
	flowrelay "github.com/stockade/stockade/flowlog/relay"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/store"
)

// agentConfig is `stockade agent`'s: the host's record, where its underlay is, and the
// enforcement options it shares with the server.
type agentConfig struct {
	serverConfig // the etcd client, data directory, lab prefix, resync, logging
	Host         cluster.Host
	UnderlayNS   string // the network namespace holding the underlay address; "" for the agent's own
	InternetNS   string // the internet namespace the host's routers link to; "" for the host's own
	Heartbeat    time.Duration
	// APIEndpoint and Credentials are where this host's flow-log records go: an API server,
	// called with the administrator account's key (its credentials file); no endpoint, no
	// records.
	APIEndpoint string
	Credentials string
}

func agentCmd() *cobra.Command {
	cfg := agentConfig{serverConfig: serverConfig{DataDir: defaultDataDir(), Quotas: control.DefaultQuotas(), LogLevel: "info",
		Enforce: true, Lab: true, LabPrefix: "stk", Resync: 30 * time.Second, FlowLogWindow: flowlog.DefaultWindow}}
	var labels []string
	cmd := &cobra.Command{
		Use:   "agent --etcd-endpoints URLS --host NAME --zone AZ --underlay ADDR",
		Short: "Enforce the security groups of the instances placed on this host, one of several sharing an etcd",
		Long: `Run the host agent of one of several hosts that share an etcd cluster with the API servers
(stockade server --etcd-endpoints). The agent registers the host (name, availability zone,
capacity, labels, underlay address; renewed by a heartbeat, so that the host is "down" once it
stops), runs the instances the API servers placed on it as lab sandboxes, and programs the
VPC routers for them: the groups and network ACLs of the whole VPC, with the members of every
host in the address sets, and VXLAN (UDP 4789) to the other hosts holding the VPC
(docs/cross-host.md). Enforcement needs root, nftables and the sandbox as the server's does.

With --api-endpoint and --credentials (the administrator's credentials file, which every API
server writes into its data directory) the agent records the flow logs of the interfaces on
its host and sends each window's records to that API server, which writes them into its S3
buckets and CloudWatch Logs groups as it does for its own; a server that is away is retried a
few times, with a bounded queue, and never holds up enforcement.

When etcd is out of reach the agent keeps enforcing what it has and starts nothing new (an
instance placed on it meanwhile is not seen, so stays closed), and catches up when etcd is
back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, l := range labels {
				k, v, ok := strings.Cut(l, "=")
				if !ok || k == "" {
					return fmt.Errorf("--label %q: want KEY=VALUE", l)
				}
				if cfg.Host.Labels == nil {
					cfg.Host.Labels = map[string]string{}
				}
				cfg.Host.Labels[k] = v
			}
			return runAgent(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Host.Name, "host", "", "this host's name, as placement and `stockade hosts` show it (required)")
	f.StringVar(&cfg.Host.Zone, "zone", "us-east-1a", "the availability zone this host serves")
	f.IntVar(&cfg.Host.VCPUs, "vcpus", 8, "vCPUs instances may take on this host")
	f.Int64Var(&cfg.Host.MemoryMiB, "memory", 16384, "memory (MiB) instances may take on this host")
	f.StringArrayVar(&labels, "label", nil, "a KEY=VALUE label of the host (repeatable)")
	f.StringVar(&cfg.Host.Underlay, "underlay", "", "this host's address on the network between hosts: VXLAN to and from the other hosts (required)")
	f.StringVar(&cfg.UnderlayNS, "underlay-netns", "", "the network namespace that holds --underlay (default: the agent's own; a simulated host of docs/cross-host.md's testbed otherwise)")
	f.StringVar(&cfg.InternetNS, "internet-netns", "", "the lab's internet namespace that this host's VPC routers link to for internet gateways and NAT (default: the host's own; the testbed's shared one, as `stockade testbed up` prints it, so that every host reaches one internet)")
	f.DurationVar(&cfg.Heartbeat, "heartbeat", cluster.DefaultHeartbeat, "how often the host's lease is renewed")
	f.DurationVar(&cfg.Host.Lease, "lease", cluster.DefaultLease, "how long after its last heartbeat the host counts as down")
	f.StringVar(&cfg.LabPrefix, "lab-prefix", cfg.LabPrefix, "prefix of the namespaces and links this host's lab creates")
	f.BoolVar(&cfg.KeepLab, "keep-lab", true, "leave the lab's namespaces, rulesets and instances in place when the agent stops, so that a restart changes nothing in the kernel (--keep-lab=false removes them)")
	f.DurationVar(&cfg.Resync, "resync", cfg.Resync, "how often the kernel's state is checked against the store even without changes")
	f.BoolVar(&cfg.LogJSON, "log-json", false, "log JSON lines instead of text")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	f.StringVar(&cfg.APIEndpoint, "api-endpoint", "", "an API server (http://HOST:PORT) to send this host's flow-log records to, with --credentials; none: no records")
	f.StringVar(&cfg.Credentials, "credentials", "", "the administrator's credentials file (<the API server's data dir>/"+datadir.Credentials+", profile default): the key the records are sent with")
	f.DurationVar(&cfg.FlowLogWindow, "flow-log-window", cfg.FlowLogWindow, "flow-log aggregation window (1s to 1m; for tests)")
	_ = f.MarkHidden("flow-log-window")
	dataDirFlag(cmd, &cfg.DataDir, "the agent's data directory (its instances' disks, images)")
	etcdFlags(cmd, &cfg.Etcd, "comma-separated client URLs of the etcd cluster the API servers use (required)")
	return cmd
}

func runAgent(ctx context.Context, cfg agentConfig) error {
	log, err := newLogger(cfg.serverConfig)
	if err != nil {
		return err
	}
	switch {
	case len(cfg.Etcd.Endpoints) == 0:
		return errors.New("--etcd-endpoints is required: an agent follows the etcd cluster the API servers share")
	case cfg.Host.Name == "":
		return errors.New("--host is required")
	case cfg.Host.Underlay == "":
		return errors.New("--underlay is required: the other hosts send this host's VXLAN traffic there")
	case cfg.Heartbeat <= 0 || cfg.Heartbeat >= cfg.Host.Lease:
		return fmt.Errorf("--heartbeat %v must be positive and shorter than --lease %v", cfg.Heartbeat, cfg.Host.Lease)
	case cfg.FlowLogWindow < time.Second || cfg.FlowLogWindow > time.Minute:
		return fmt.Errorf("--flow-log-window %s: want 1s to 1m", cfg.FlowLogWindow)
	}
	records, err := cfg.flowRelay(log)
	if err != nil {
		return err
	}
	if err := cfg.Host.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := datadir.Prepare(cfg.DataDir); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg.serverConfig, log)
	if err != nil {
		return err
	}
	defer st.Close()
	ccfg := control.DefaultConfig()
	ccfg.Log, ccfg.Shared = log, true
	ccfg.Images = image.Open(filepath.Join(cfg.DataDir, datadir.Images))
	svc, err := control.Open(ctx, st, ccfg)
	if err != nil {
		return err
	}
	if err := cluster.Register(ctx, st, cfg.Host, time.Now()); err != nil {
		return fmt.Errorf("register host %s: %w", cfg.Host.Name, err)
	}
	log.Info("host registered", "host", cfg.Host.Name, "zone", cfg.Host.Zone, "vcpus", cfg.Host.VCPUs, "memory_mib", cfg.Host.MemoryMiB, "underlay", cfg.Host.Underlay)

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { heartbeat(ctx, st, cfg.Host, cfg.Heartbeat, log) })

	places := &placements{st: st, self: cfg.Host.Name, ns: cfg.UnderlayNS, internet: cfg.InternetNS, log: log}
	enforceCtx, stopEnforce := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEnforce()
	enf, err := startEnforcement(enforceCtx, cfg.serverConfig, svc, prometheus.NewRegistry(), log, places.of)
	if err != nil {
		return err
	}
	if enf == nil {
		return errors.New("an agent enforces or is nothing: run it as root on a host with nftables")
	}
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	var relayDone sync.WaitGroup
	if records != nil {
		relayDone.Go(func() { records.Run(relayCtx) })
		enf.startFlowLogs(enforceCtx, records, cfg.FlowLogWindow)
	} else {
		log.Warn("flow-log records of this host's instances are not recorded: no --api-endpoint to send them to")
	}
	<-ctx.Done()
	log.Info("agent stopping")
	stopEnforce()
	enf.stop()
	stopRelay() // after the recorder's last window: the relay hands over what it has queued
	relayDone.Wait()
	return nil
}

// flowRelay is the sender of this host's flow-log records to --api-endpoint, nil without one.
func (cfg agentConfig) flowRelay(log *slog.Logger) (*flowrelay.Client, error) {
	if cfg.APIEndpoint == "" {
		if cfg.Credentials != "" {
			return nil, errors.New("--credentials is the key flow-log records are sent to --api-endpoint with: give both")
		}
		return nil, nil
	}
	u, err := url.Parse(cfg.APIEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--api-endpoint %q: want http://HOST:PORT", cfg.APIEndpoint)
	}
	if cfg.Credentials == "" {
		return nil, errors.New("--api-endpoint needs --credentials: the administrator's credentials file (<the API server's data dir>/" + datadir.Credentials + ")")
	}
	key, secret, err := auth.ReadCredentials(cfg.Credentials, "default")
	if err != nil {
		return nil, fmt.Errorf("--credentials: %w", err)
	}
	return &flowrelay.Client{Endpoint: cfg.APIEndpoint, AccessKeyID: key, Secret: secret, Host: cfg.Host.Name, Log: log,
		HTTP: &http.Client{Timeout: time.Minute}}, nil
}

var _ host.RecordSink = (*flowrelay.Client)(nil)

// heartbeat renews the host's lease every interval until ctx ends; a host whose record is gone
// (deregistered, or a store that lost it) is registered again. A failed renewal is logged and
// tried again at the next beat: the host goes down only when its lease runs out.
func heartbeat(ctx context.Context, st store.Store, h cluster.Host, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := cluster.Heartbeat(ctx, st, h.Name, time.Now())
		if errors.Is(err, cluster.ErrUnknownHost) {
			err = cluster.Register(ctx, st, h, time.Now())
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("heartbeat failed: the host stays up until its lease runs out", "host", h.Name, "error", err)
		}
	}
}

// placements is the reconciler's view of where interfaces are: every host's underlay address
// from the host records, and each instance's interfaces on the host it was placed on.
type placements struct {
	st       store.Store
	self, ns string
	internet string // Placement.Internet
	log      *slog.Logger

	mu       sync.Mutex
	underlay map[string]netip.Addr // the last read of the host records
}

// of is host.Config.Placement. The host records are read again each time; when the store
// cannot be read, the last read stands (the host keeps enforcing what it has).
func (p *placements) of(nets []netmap.Network) host.Placement {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	hosts, err := cluster.Statuses(ctx, p.st, time.Now())
	cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		under := map[string]netip.Addr{}
		for _, h := range hosts {
			if a, err := netip.ParseAddr(h.Underlay); err == nil {
				under[h.Name] = a
			}
		}
		p.underlay = under
	} else {
		p.log.Warn("host records not read: the last ones stand", "error", err)
	}
	of := map[string]string{}
	for _, n := range nets {
		for _, in := range n.Instances {
			for _, id := range in.InterfaceIDs {
				// An instance placed before any host registered has no host: it runs nowhere
				// rather than on every host at once.
				of[id] = in.Node
			}
		}
		// A NAT gateway runs on the host it was placed on; an unplaced one on the first host
		// by name, as every host works out alike (host.Placement.natHost).
		for _, g := range n.NATGateways {
			if g.Node != "" && g.ENIID != "" {
				of[g.ENIID] = g.Node
			}
		}
	}
	return host.Placement{Self: p.self, Namespace: p.ns, Internet: p.internet, Underlay: p.underlay, Of: of}
}
