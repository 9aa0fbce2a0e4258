// Package lab runs lab instances: on a lab-enabled server, every running instance is a real
// network namespace joined to its VPC's router (package netlab), with its interface's private
// address and routes, filtered by the agent's ruleset. At launch its user data runs inside the
// namespace as a shell script, as cloud-init would run it, and what it prints is the
// instance's console output. Terminating the instance removes the namespace and every process
// in it. On shutdown the lab removes everything it made unless told to keep it; a later start
// adopts what it finds.
package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stockade/stockade/agent"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// Config configures a Lab.
type Config struct {
	Names netlab.Names
	// Dir holds the console output of every instance (<Dir>/<instance>.log).
	Dir string
	Log *slog.Logger
}

// Lab keeps the host's namespaces in step with the running instances.
type Lab struct {
	cfg   Config
	src   agent.Source
	agent *agent.Agent

	mu        sync.Mutex
	instances map[string]*netmap.LabInstance // by instance ID
	routers   map[string]bool                // VPCs whose router namespace exists
	scripts   sync.WaitGroup

	done agent.Watermark // the revision whose instances all have (or have lost) their namespaces
}

// New returns a lab; Run starts it.
func New(src agent.Source, a *agent.Agent, cfg Config) (*Lab, error) {
	if err := cfg.Names.Validate(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab directory: %w", err)
	}
	return &Lab{cfg: cfg, src: src, agent: a, instances: map[string]*netmap.LabInstance{}, routers: map[string]bool{}}, nil
}

// Run reconciles the namespaces with the instances after every committed write until ctx ends.
func (l *Lab) Run(ctx context.Context) error {
	revs := l.src.Watch(ctx)
	for {
		if err := l.Reconcile(ctx); err != nil {
			l.cfg.Log.Error("lab reconcile failed; will retry on the next change", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-revs:
			if !ok {
				return nil
			}
		case <-time.After(5 * time.Second):
		}
	}
}

// wanted is a running instance, its primary interface and where it lives, and its other
// interfaces.
type wanted struct {
	inst   *model.Instance
	eni    *model.NetworkInterface
	subnet *model.Subnet
	extra  []attached
	tenant netmap.Tenant
}

// attached is an interface at a device index other than 0, with its subnet.
type attached struct {
	eni    *model.NetworkInterface
	subnet *model.Subnet
}

// Reconcile creates the namespaces of new running instances and removes those of instances
// that are no longer running, then the routers of VPCs left without instances.
func (l *Lab) Reconcile(ctx context.Context) error {
	rev, nets := l.src.Networks()
	want := map[string]wanted{}
	for _, n := range nets {
		enis := map[string]*model.NetworkInterface{}
		for _, e := range n.ENIs {
			enis[e.ID] = e
		}
		subnets := map[string]*model.Subnet{}
		for _, sn := range n.Subnets {
			subnets[sn.ID] = sn
		}
		for _, in := range n.Instances {
			if in.State != model.StateRunning || len(in.InterfaceIDs) == 0 {
				continue
			}
			e := enis[in.InterfaceIDs[0]]
			if e == nil || subnets[e.SubnetID] == nil {
				continue
			}
			w := wanted{inst: in, eni: e, subnet: subnets[e.SubnetID], tenant: n.Tenant}
			for _, id := range in.InterfaceIDs[1:] {
				if x := enis[id]; x != nil && x.Attachment != nil && subnets[x.SubnetID] != nil {
					w.extra = append(w.extra, attached{x, subnets[x.SubnetID]})
				}
			}
			want[in.ID] = w
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for id, in := range l.instances {
		if _, ok := want[id]; !ok {
			errs = append(errs, l.remove(in))
		}
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var launched []wanted
	for _, id := range ids {
		if l.instances[id] != nil {
			continue
		}
		w := want[id]
		fresh, err := l.add(ctx, w)
		if err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", id, err))
			continue
		}
		if fresh {
			launched = append(launched, w)
		}
	}
	errs = append(errs, l.pruneRouters())
	// User data starts once the kernel enforces the revision that launched the instance, so
	// that its first packets meet the instance's groups rather than the fail-closed default.
	if len(launched) > 0 {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := l.agent.Wait(wctx, rev); err != nil {
			l.cfg.Log.Warn("user data starts before enforcement caught up", "revision", rev, "error", err)
		}
		cancel()
		for _, w := range launched {
			l.userData(w)
		}
	}
	err := errors.Join(errs...)
	if err == nil {
		l.done.Set(rev)
	}
	return err
}

// Wait blocks until every instance running at revision rev (or later) has its namespace, and
// every instance gone by then has lost it, or until ctx ends.
func (l *Lab) Wait(ctx context.Context, rev int64) error { return l.done.Wait(ctx, rev) }

// add wires one instance. fresh is false when its namespace already existed (adopted after a
// restart that kept the lab): user data ran at its launch and does not run again.
func (l *Lab) add(ctx context.Context, w wanted) (fresh bool, err error) {
	vpc := w.inst.VpcID
	router := l.cfg.Names.Router(vpc)
	if !l.routers[vpc] {
		if _, err := netlab.CreateRouter(router); err != nil {
			return false, err
		}
		// The ruleset goes in before forwarding is turned on: never a moment unfiltered.
		if err := l.agent.Serve(ctx, vpc); err != nil {
			return false, fmt.Errorf("program router %s: %w", router, err)
		}
		if err := netlab.EnableForwarding(router); err != nil {
			return false, err
		}
		l.routers[vpc] = true
	}
	in := &netmap.LabInstance{ID: w.inst.ID, Account: w.tenant.Account, Region: w.tenant.Region, VpcID: vpc, ENI: w.eni.ID,
		Address: w.eni.PrivateIP.String(), Namespace: l.cfg.Names.Instance(w.inst.ID), Router: router}
	for _, a := range w.eni.IPv6 {
		in.IPv6 = append(in.IPv6, a.String())
	}
	ifaces := []netlab.Interface{l.iface(in.Namespace, w.eni, w.subnet)}
	for _, x := range w.extra {
		ifaces = append(ifaces, l.iface(in.Namespace, x.eni, x.subnet))
	}
	for _, i := range ifaces {
		in.Links = append(in.Links, i.Link)
	}
	fresh = !netlab.Exists(in.Namespace)
	if fresh {
		for _, i := range ifaces {
			if err := netlab.Attach(router, i); err != nil {
				_ = netlab.Detach(router, in.Namespace, in.Links...)
				return false, fmt.Errorf("%s: %w", i.Device(), err)
			}
		}
		l.cfg.Log.Info("lab instance up", "instance", in.ID, "address", in.Address, "interfaces", len(ifaces), "namespace", in.Namespace)
	}
	l.instances[in.ID] = in
	return fresh, nil
}

// iface is how an interface of an instance is wired in its namespace.
func (l *Lab) iface(ns string, e *model.NetworkInterface, sn *model.Subnet) netlab.Interface {
	i := netlab.Interface{Namespace: ns, Link: l.cfg.Names.Link(e.ID), MAC: e.MAC,
		Addr: e.PrivateIP, Subnet: sn.CIDR, Secondary: v4(e.SecondaryIPs), IPv6: e.IPv6}
	if e.Attachment != nil {
		i.DeviceIndex = e.Attachment.DeviceIndex
	}
	return i
}

func v4(as []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range as {
		if a.Is4() {
			out = append(out, a)
		}
	}
	return out
}

func (l *Lab) remove(in *netmap.LabInstance) error {
	delete(l.instances, in.ID)
	if err := netlab.Detach(in.Router, in.Namespace, in.Links...); err != nil {
		return fmt.Errorf("remove instance %s: %w", in.ID, err)
	}
	l.cfg.Log.Info("lab instance removed", "instance", in.ID, "namespace", in.Namespace)
	return nil
}

// pruneRouters removes the router of every VPC that has no lab instance left.
func (l *Lab) pruneRouters() error {
	used := map[string]bool{}
	for _, in := range l.instances {
		used[in.VpcID] = true
	}
	var errs []error
	for vpc := range l.routers {
		if used[vpc] {
			continue
		}
		l.agent.Forget(vpc)
		delete(l.routers, vpc)
		errs = append(errs, netlab.Remove(l.cfg.Names.Router(vpc)))
	}
	return errors.Join(errs...)
}

// userData runs the instance's user data inside its namespace, in the background, with its
// output appended to the console log. A script without "#!" is run by /bin/sh.
func (l *Lab) userData(w wanted) {
	if len(w.inst.UserData) == 0 {
		return
	}
	ns := l.cfg.Names.Instance(w.inst.ID)
	script := filepath.Join(l.cfg.Dir, w.inst.ID+".user-data")
	if err := os.WriteFile(script, w.inst.UserData, 0o700); err != nil {
		l.cfg.Log.Error("user data", "instance", w.inst.ID, "error", err)
		return
	}
	console, err := os.OpenFile(l.ConsolePath(w.inst.ID), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		l.cfg.Log.Error("console log", "instance", w.inst.ID, "error", err)
		return
	}
	argv := []string{"/bin/sh", script}
	if strings.HasPrefix(string(w.inst.UserData), "#!") {
		argv = []string{script}
	}
	cmd := netlab.Command(ns, argv...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = console, console
	cmd.Env = append(os.Environ(), "INSTANCE_ID="+w.inst.ID)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	fmt.Fprintf(console, "[stockade] %s running user data for %s\n", time.Now().UTC().Format(time.RFC3339), w.inst.ID)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(console, "[stockade] user data failed to start: %v\n", err)
		console.Close()
		return
	}
	l.scripts.Add(1)
	go func() {
		defer l.scripts.Done()
		defer console.Close()
		err := cmd.Wait()
		status := "0"
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			status = fmt.Sprint(exit.ExitCode())
		} else if err != nil {
			status = err.Error()
		}
		fmt.Fprintf(console, "[stockade] user data finished with status %s\n", status)
	}()
}

// ConsolePath is where an instance's console output is kept.
func (l *Lab) ConsolePath(instance string) string { return filepath.Join(l.cfg.Dir, instance+".log") }

// Console returns an instance's console output (empty when it has none).
func (l *Lab) Console(instance string) ([]byte, error) {
	b, err := os.ReadFile(l.ConsolePath(instance))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Instances lists the lab instances, sorted by ID.
func (l *Lab) Instances() []netmap.LabInstance {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]netmap.LabInstance, 0, len(l.instances))
	for _, in := range l.instances {
		out = append(out, *in)
	}
	slices.SortFunc(out, func(a, b netmap.LabInstance) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Close ends the lab. Unless keep is set it removes every namespace it made, and any other
// namespace with its prefix left by an earlier run; with keep, namespaces and rulesets stay in
// force for a later start to adopt.
func (l *Lab) Close(keep bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if keep {
		return nil
	}
	var errs []error
	for _, in := range l.instances {
		errs = append(errs, l.remove(in))
	}
	errs = append(errs, l.pruneRouters())
	l.scripts.Wait()
	return errors.Join(errs...)
}

// Sweep removes namespaces with the lab's prefix that belong to no running instance: left by
// a run that crashed, or by one whose instances were terminated while it was down. Router
// namespaces are kept for adoption; the next Reconcile removes those left without instances.
func (l *Lab) Sweep() error {
	_, nets := l.src.Networks()
	running := map[string]bool{}
	vpcs := map[string]bool{}
	for _, n := range nets {
		for _, in := range n.Instances {
			if in.State == model.StateRunning {
				running[l.cfg.Names.Instance(in.ID)] = true
				vpcs[in.VpcID] = true
			}
		}
	}
	nss, err := netlab.List(l.cfg.Names.Prefix + "-")
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range nss {
		if strings.HasPrefix(ns, l.cfg.Names.Prefix+"-i-") && !running[ns] {
			errs = append(errs, netlab.Remove(ns))
		}
		// A router of a VPC with running instances is adopted: Reconcile has the agent replace
		// its table atomically before anything else happens to it.
		if vpc, ok := strings.CutPrefix(ns, l.cfg.Names.Prefix+"-"); ok && strings.HasPrefix(vpc, "vpc-") && !vpcs[vpc] {
			errs = append(errs, netlab.Remove(ns))
		}
	}
	return errors.Join(errs...)
}
