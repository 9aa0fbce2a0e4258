package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/imds"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// enforcement is the host reconciler running inside the server (the single-host default).
type enforcement struct {
	svc  *control.Service
	host *host.Host
	done chan struct{}
	keep bool
	log  *slog.Logger
	// names find the host link and masquerade table of the opt-in, removed with the lab.
	names netlab.Names
	// flowsDone is closed when the flow-log recorder has stopped (nil: none was started).
	flowsDone chan struct{}
	// place is where interfaces are on one host of several (nil: a single host); the
	// flow-log recorder keeps to this host's, as the reconciler does.
	place func([]netmap.Network) host.Placement
}

// startFlowLogs records the flow logs of the lab's interfaces into w until ctx ends: the
// server's own flowlog.Writer, or an agent's relay to the API server's. With enforcement off
// there is no traffic to record.
func (e *enforcement) startFlowLogs(ctx context.Context, w host.RecordSink, window time.Duration) {
	if e == nil {
		return
	}
	fl := &host.FlowLogs{Source: e.svc, NFT: dataplane.NFT{NSDir: netlab.Dir}, Names: e.names, Writer: w, Window: window, Log: e.log,
		Placement: e.place}
	e.flowsDone = make(chan struct{})
	go func() {
		defer close(e.flowsDone)
		fl.Run(ctx)
	}()
}

// errLabNeeded is the start-up error of --enforce with --lab=false: on a single host the VPC
// routers exist for the lab instances behind them, so enforcing without a lab would program
// nothing while claiming to enforce.
var errLabNeeded = errors.New("--enforce needs --lab: on a single host the VPC routers that enforce the groups exist only for lab instances, so --lab=false would enforce nothing; start with --enforce=false to store and analyse groups without enforcing them")

// startEnforcement starts the host reconciler when the server runs as root and enforcement is
// not turned off. Without root it says that enforcement is off and returns nil. A host that
// cannot run the data plane (no nft, no nf_tables) is a start-up error naming what is missing,
// and so is --lab=false with enforcement on.
//
// place, when not nil, makes this host one of several (an agent's): it says where each
// interface is (host.Config.Placement).
func startEnforcement(ctx context.Context, cfg serverConfig, svc *control.Service, reg prometheus.Registerer, log *slog.Logger, place func([]netmap.Network) host.Placement) (*enforcement, error) {
	if !cfg.Enforce {
		log.Warn("enforcement is off (--enforce=false): security groups are stored and analysed but filter no packets")
		return nil, nil
	}
	if !cfg.Lab {
		return nil, errLabNeeded
	}
	if os.Geteuid() != 0 {
		log.Warn("enforcement is off: the server is not running as root, so it cannot program nftables or create lab instances; security groups are stored and analysed but filter no packets")
		return nil, nil
	}
	k := dataplane.NFT{NSDir: netlab.Dir}
	if err := k.Check(ctx); err != nil {
		return nil, fmt.Errorf("cannot enforce security groups on this host: %w (or start with --enforce=false)", err)
	}
	sandbox := host.DefaultSandbox
	if err := sandbox.Check(); err != nil {
		return nil, fmt.Errorf("cannot run lab instances on this host: %w (or start with --enforce=false)", err)
	}
	cg, err := host.DetectCgroups("/sys/fs/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cannot limit lab instances on this host: %w (or start with --enforce=false)", err)
	}
	sandbox.Cgroups = cg
	// The metadata service finds an instance's tenant through the host (which knows which
	// instances it runs) and its record, live, in the store's current state.
	var h *host.Host
	metadata := imds.New(func(id string) (imds.Instance, bool) {
		t, ok := h.Owner(id)
		if !ok {
			return imds.Instance{}, false
		}
		return svc.Metadata(t.Account, t.Region, id)
	}, imds.Config{})
	names := netlab.Names{Prefix: cfg.LabPrefix}
	hl, err := cfg.hostLink()
	if err != nil {
		return nil, err
	}
	// A link left by an earlier run goes before the opt-in of this one (if any) makes its
	// own with the internet namespace: a start without the flags leaves no way to the host.
	if err := netlab.RemoveHostLink(names); err != nil {
		return nil, fmt.Errorf("removing the lab's old link to the host: %w", err)
	}
	h, err = host.New(svc, host.Config{Kernel: k, Namespaces: netlab.Host{HostLink: hl}, Names: names,
		Dir: filepath.Join(cfg.DataDir, "lab"), Sandbox: &sandbox, Metadata: metadata,
		Images: image.Open(filepath.Join(cfg.DataDir, datadir.Images)), Resync: cfg.Resync, Log: log, Registerer: reg,
		Placement: place})
	if err != nil {
		return nil, err
	}
	e := &enforcement{svc: svc, host: h, done: make(chan struct{}), keep: cfg.KeepLab, log: log, names: names, place: place}
	go func() {
		defer close(e.done)
		if err := h.Run(ctx); err != nil {
			log.Error("enforcement stopped", "error", err)
		}
	}()
	log.Info("enforcement is on", "prefix", cfg.LabPrefix, "resync", cfg.Resync)
	if hl.On() {
		log.Warn("instances may reach these host-side addresses through the lab's internet side (--internet-allow)", "allow", hl.Allow,
			"host_end", netlab.HostLinkHost, "link", hl.Link, "masquerade", hl.Masquerade)
	}
	return e, nil
}

// stop waits for the host reconciler to end (its context is done) and removes the lab unless
// it is to be kept.
func (e *enforcement) stop() {
	if e == nil {
		return
	}
	<-e.done
	if e.flowsDone != nil {
		<-e.flowsDone // its last delivery before the stores close
	}
	err := e.host.Close(context.Background(), e.keep)
	if !e.keep {
		// The link went with the internet namespace; the masquerade table is the host's.
		err = errors.Join(err, netlab.RemoveHostLink(e.names))
	}
	if err != nil {
		e.log.Error("removing the lab", "error", err)
	} else if e.keep {
		e.log.Info("lab kept: namespaces and rulesets stay in force for the next start (--keep-lab)")
	} else {
		e.log.Info("lab removed")
	}
}

func (e *enforcement) console() func(string) ([]byte, error) {
	if e == nil {
		return nil
	}
	return e.host.Console
}

// booted reports whether a lab instance has booted (nil when the lab is off).
func (e *enforcement) booted() func(string) bool {
	if e == nil {
		return nil
	}
	return e.host.Booted
}

func (e *enforcement) labList() adminapi.LabFunc {
	if e == nil {
		return nil
	}
	return e.host.Instances
}

// serveEnforced answers GET /enforced?revision=N&timeout=D: it waits (up to D, default 5 s,
// at most 60 s) until this host enforces store revision N — the X-Stockade-Revision a write
// returned, or "latest" for every write so far — and until the lab instances of that revision
// are up (or gone); it answers 200 with {"enforced": R}; 504 if
// the time ran out first, 503 if the server enforces nothing.
func (e *enforcement) serveEnforced(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if e == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"error": "enforcement is off on this server"})
		return
	}
	var rev int64
	var err error
	if v := r.URL.Query().Get("revision"); v == "latest" {
		rev = e.svc.Revision()
	} else {
		rev, err = strconv.ParseInt(v, 10, 64)
	}
	timeout := 5 * time.Second
	if t := r.URL.Query().Get("timeout"); t != "" && err == nil {
		timeout, err = time.ParseDuration(t)
	}
	if err != nil || rev < 0 || timeout < 0 || timeout > time.Minute {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "want revision=<store revision, or latest> and optionally timeout=<duration up to 1m>"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	err = e.host.Wait(ctx, rev)
	status := http.StatusOK
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]int64{"enforced": e.host.Enforced(), "revision": rev})
}
