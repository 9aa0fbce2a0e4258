// Package nsfake is an in-memory stand-in for the host's network namespaces (netlab.Host), for
// tests of the host reconciler without root. Like knftables' Fake, it interprets each call into
// a state that a test dumps and compares, rather than recording calls: a test says what the
// host should look like, not which calls made it so. Commands (user data) run as ordinary
// processes outside any namespace.
package nsfake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/stockade/stockade/netlab"
)

// Fake is a host's named namespaces. The zero value is an empty host.
type Fake struct {
	mu  sync.Mutex
	nss map[string]*namespace
	// fail makes calls fail: "op name" (e.g. "attach stk-i-1", "ensure stk-vpc-1") → error.
	fail map[string]error
	// metadata is where the metadata service of the instance behind each link listens.
	metadata map[string]string
	// ops are the operator namespaces, each with the router its link leads to ("" once that
	// router is gone: a veth pair goes with either end's namespace, the namespace stays).
	// They are apart from nss so that Dump shows what it always showed; Operators shows them.
	ops map[string]string
	// inet is the internet namespace, once made; uplinks are the routers linked to it (router
	// → uplink), public the addresses it routes to each link (peer → addresses), routes each
	// router's route tables as SetRoutes last set them.
	inet    string
	uplinks map[string]netlab.Uplink
	public  map[string][]netip.Prefix
	routes  map[string][]netlab.RouteTable
	// overlays are the routers' VXLAN devices, and peers their entries as SetPeers last set
	// them (by router).
	overlays map[string]netlab.Overlay
	peers    map[string][]netlab.Peer
}

// namespace is what the fake keeps of one namespace.
type namespace struct {
	router     bool
	forwarding bool
	links      map[string]string  // a router's links → the instance namespace at their other end
	devices    []netlab.Interface // an instance's interfaces, as Attach and Readdress left them
}

// ErrFake is the error a failure set with Fail returns unless it names its own.
var ErrFake = errors.New("nsfake: refused")

// Fail makes every call of op ("ensure", "forwarding", "attach", "detach", "remove", "exists",
// "list", "operator", "unplug", "readdress", "wiring") on the namespace name fail with err until Fail is called again with a nil err. For
// attach, name is the instance namespace.
func (f *Fake) Fail(op, name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		f.fail = map[string]error{}
	}
	if err == nil {
		delete(f.fail, op+" "+name)
		return
	}
	f.fail[op+" "+name] = err
}

func (f *Fake) check(ctx context.Context, op, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.nss == nil {
		f.nss = map[string]*namespace{}
	}
	return f.fail[op+" "+name]
}

// Add makes a namespace, as an earlier run (or someone else) would have left it: a router
// with forwarding on, or a bare instance namespace.
func (f *Fake) Add(ns string, router bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nss == nil {
		f.nss = map[string]*namespace{}
	}
	f.nss[ns] = &namespace{router: router, forwarding: router, links: map[string]string{}}
}

// SetForwarding changes a router's forwarding behind the host's back.
func (f *Fake) SetForwarding(ns string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.nss[ns]; n != nil {
		n.forwarding = on
	}
}

// EnsureRouter implements host.Namespaces.
func (f *Fake) EnsureRouter(ctx context.Context, ns string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "ensure", ns); err != nil {
		return false, err
	}
	if f.nss[ns] != nil {
		return false, nil
	}
	f.nss[ns] = &namespace{router: true, links: map[string]string{}}
	return true, nil
}

// EnableForwarding implements host.Namespaces.
func (f *Fake) EnableForwarding(ctx context.Context, ns string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "forwarding", ns); err != nil {
		return err
	}
	n := f.nss[ns]
	if n == nil || !n.router {
		return fmt.Errorf("nsfake: no router namespace %s", ns)
	}
	n.forwarding = true
	return nil
}

// Forwarding implements host.Namespaces.
func (f *Fake) Forwarding(ctx context.Context, ns string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "forwarding", ns); err != nil {
		return false, err
	}
	n := f.nss[ns]
	if n == nil {
		return false, fmt.Errorf("nsfake: no namespace %s", ns)
	}
	return n.forwarding, nil
}

// EnsureOperator implements host.Operators: the router must exist; an operator namespace
// whose link leads to it is adopted.
func (f *Fake) EnsureOperator(ctx context.Context, router string, op netlab.Operator) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "operator", op.Namespace); err != nil {
		return false, err
	}
	if r := f.nss[router]; r == nil || !r.router {
		return false, fmt.Errorf("nsfake: no router namespace %s", router)
	}
	if f.ops == nil {
		f.ops = map[string]string{}
	}
	if to, ok := f.ops[op.Namespace]; ok && to == router {
		return false, nil
	}
	f.ops[op.Namespace] = router
	return true, nil
}

// AddOperator makes an operator namespace, as an earlier run would have left it, its link
// leading to router ("" for none).
func (f *Fake) AddOperator(ns, router string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ops == nil {
		f.ops = map[string]string{}
	}
	f.ops[ns] = router
}

// Operators is the operator namespaces, sorted: "NAME>ROUTER", or "NAME>" when its link is gone.
func (f *Fake) Operators() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for ns, r := range f.ops {
		out = append(out, ns+">"+r)
	}
	slices.Sort(out)
	return out
}

// Attach implements host.Namespaces.
func (f *Fake) Attach(ctx context.Context, router string, i netlab.Interface) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "attach", i.Namespace); err != nil {
		return err
	}
	r := f.nss[router]
	if r == nil || !r.router {
		return fmt.Errorf("nsfake: no router namespace %s", router)
	}
	if other, ok := r.links[i.Link]; ok && other != i.Namespace {
		return fmt.Errorf("nsfake: link %s in %s already leads to %s", i.Link, router, other)
	}
	n := f.nss[i.Namespace]
	if n == nil {
		n = &namespace{}
		f.nss[i.Namespace] = n
	}
	r.links[i.Link] = i.Namespace
	n.devices = append(n.devices, clone(i))
	return nil
}

// device is how Dump shows an interface inside its instance: "eth0 10.0.1.4/24", followed by
// its other addresses, each after a "+", when it has any.
func device(i netlab.Interface) string {
	d := fmt.Sprintf("%s %s/%d", i.Device(), i.Addr, i.Subnet.Bits())
	for _, a := range append(slices.Clone(i.Secondary), i.IPv6...) {
		d += "+" + a.String()
	}
	return d
}

// Unplug implements host.Namespaces: the link leaves the router, the device the instance.
func (f *Fake) Unplug(ctx context.Context, router string, i netlab.Interface) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "unplug", i.Namespace); err != nil {
		return err
	}
	if r := f.nss[router]; r != nil {
		delete(r.links, i.Link)
	}
	if n := f.nss[i.Namespace]; n != nil {
		n.devices = slices.DeleteFunc(n.devices, func(d netlab.Interface) bool { return d.DeviceIndex == i.DeviceIndex })
	}
	return nil
}

// Wiring implements host.Namespaces: the interfaces of ns whose link on the router leads to
// it, by device index, as Attach and Readdress left them.
func (f *Fake) Wiring(ctx context.Context, router, ns string) ([]netlab.Interface, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "wiring", ns); err != nil {
		return nil, err
	}
	r, n := f.nss[router], f.nss[ns]
	if r == nil || n == nil {
		return nil, nil
	}
	var out []netlab.Interface
	for _, i := range n.devices {
		if r.links[i.Link] == ns {
			out = append(out, clone(i))
		}
	}
	slices.SortFunc(out, func(a, b netlab.Interface) int { return a.DeviceIndex - b.DeviceIndex })
	return out, nil
}

// clone is i with address lists of its own: what the fake holds never shares them with a caller.
func clone(i netlab.Interface) netlab.Interface {
	i.Secondary, i.IPv6 = slices.Clone(i.Secondary), slices.Clone(i.IPv6)
	return i
}

// Readdress implements host.Namespaces: the device shows i's addresses.
func (f *Fake) Readdress(ctx context.Context, router string, was, i netlab.Interface) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "readdress", i.Namespace); err != nil {
		return err
	}
	n := f.nss[i.Namespace]
	if r := f.nss[router]; r == nil || r.links[i.Link] != i.Namespace || n == nil {
		return fmt.Errorf("nsfake: %s is not wired to %s", i.Link, i.Namespace)
	}
	k := slices.IndexFunc(n.devices, func(d netlab.Interface) bool { return d.Link == was.Link && d.DeviceIndex == was.DeviceIndex })
	if k < 0 {
		return fmt.Errorf("nsfake: %s has no device %s on %s", i.Namespace, was.Device(), was.Link)
	}
	n.devices[k] = clone(i)
	return nil
}

// Detach implements host.Namespaces.
func (f *Fake) Detach(ctx context.Context, router, ns string, links ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "detach", ns); err != nil {
		return err
	}
	if r := f.nss[router]; r != nil {
		for _, l := range links {
			delete(r.links, l)
		}
	}
	delete(f.nss, ns)
	return nil
}

// Exists implements host.Namespaces.
func (f *Fake) Exists(ctx context.Context, ns string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "exists", ns); err != nil {
		return false, err
	}
	_, op := f.ops[ns]
	return f.nss[ns] != nil || op || (ns != "" && ns == f.inet), nil
}

// List implements host.Namespaces.
func (f *Fake) List(ctx context.Context, prefix string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "list", prefix); err != nil {
		return nil, err
	}
	var out []string
	for ns := range f.nss {
		if strings.HasPrefix(ns, prefix) {
			out = append(out, ns)
		}
	}
	for ns := range f.ops {
		if strings.HasPrefix(ns, prefix) {
			out = append(out, ns)
		}
	}
	if f.inet != "" && strings.HasPrefix(f.inet, prefix) {
		out = append(out, f.inet)
	}
	slices.Sort(out)
	return out, nil
}

// Remove implements host.Namespaces. A router's links go with it, as a veth pair goes when one
// end's namespace does.
func (f *Fake) Remove(ctx context.Context, ns string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "remove", ns); err != nil {
		return err
	}
	delete(f.nss, ns)
	delete(f.ops, ns)
	for op, r := range f.ops {
		if r == ns {
			f.ops[op] = ""
		}
	}
	// A veth pair (and the routes over it) goes with either end's namespace.
	if up, ok := f.uplinks[ns]; ok {
		delete(f.uplinks, ns)
		delete(f.public, up.Peer)
	}
	delete(f.routes, ns)
	delete(f.overlays, ns) // the device moved into the router goes with it
	delete(f.peers, ns)
	if ns == f.inet {
		f.inet, f.uplinks, f.public = "", nil, nil
	}
	return nil
}

// Command implements host.Namespaces: the command runs on the host itself.
func (f *Fake) Command(ctx context.Context, ns string, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// ListenMetadata listens on a loopback port of the host for the metadata service of the
// instance behind link; MetadataAddr(link) tells where.
func (f *Fake) ListenMetadata(router, link string) (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.metadata == nil {
		f.metadata = map[string]string{}
	}
	f.metadata[link] = l.Addr().String()
	return l, nil
}

// MetadataAddr is where the metadata service of the instance behind link listens, "" if it
// never did.
func (f *Fake) MetadataAddr(link string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.metadata[link]
}

// Start starts cmd on the host: the fake has no namespaces to enter. A sandbox (a command
// asking for a user namespace) is refused: on the host it would be in the host's network
// namespace, where its sshd would listen on the host's port 22.
func (f *Fake) Start(ns string, cmd *exec.Cmd) error {
	if cmd.SysProcAttr != nil && cmd.SysProcAttr.Cloneflags&syscall.CLONE_NEWUSER != 0 {
		return errors.New("nsfake: a sandbox needs real namespaces")
	}
	return cmd.Start()
}

// Dump is the state, one line per namespace, sorted: "router NAME forwarding=on|off
// links=LINK>NS,..." or "instance NAME DEVICE ADDR/BITS,...".
func (f *Fake) Dump() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for name, n := range f.nss {
		if n.router {
			fw := map[bool]string{true: "on", false: "off"}[n.forwarding]
			var links []string
			for l, to := range n.links {
				links = append(links, l+">"+to)
			}
			slices.Sort(links)
			out = append(out, fmt.Sprintf("router %s forwarding=%s links=%s", name, fw, strings.Join(links, ",")))
			continue
		}
		var devs []string
		for _, i := range n.devices {
			devs = append(devs, device(i))
		}
		out = append(out, fmt.Sprintf("instance %s %s", name, strings.Join(devs, ",")))
	}
	slices.Sort(out)
	return out
}

// EnsureInternet implements host.Namespaces: the router must exist; the internet namespace is
// made if needed; a router already linked to it is adopted.
func (f *Fake) EnsureInternet(ctx context.Context, router string, up netlab.Uplink) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "internet", router); err != nil {
		return false, err
	}
	if r := f.nss[router]; r == nil || !r.router {
		return false, fmt.Errorf("nsfake: no router namespace %s", router)
	}
	f.inet = up.Internet
	if have, ok := f.uplinks[router]; ok && have == up {
		return false, nil
	}
	if f.uplinks == nil {
		f.uplinks = map[string]netlab.Uplink{}
	}
	f.uplinks[router] = up
	return true, nil
}

// RemoveInternet implements host.Namespaces: a missing link is not an error.
func (f *Fake) RemoveInternet(ctx context.Context, router string, up netlab.Uplink) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "uninternet", router); err != nil {
		return err
	}
	delete(f.uplinks, router)
	delete(f.public, up.Peer)
	return nil
}

// SetPublic implements host.Namespaces: the link must be there.
func (f *Fake) SetPublic(ctx context.Context, up netlab.Uplink, public []netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "public", up.Peer); err != nil {
		return err
	}
	found := false
	for _, u := range f.uplinks {
		found = found || u.Peer == up.Peer
	}
	if !found || f.inet != up.Internet {
		return fmt.Errorf("nsfake: no internet link %s", up.Peer)
	}
	if f.public == nil {
		f.public = map[string][]netip.Prefix{}
	}
	f.public[up.Peer] = slices.Clone(public)
	return nil
}

// SetRoutes implements host.Namespaces: the router must exist; uplink must be its link.
func (f *Fake) SetRoutes(ctx context.Context, router, uplink string, tables []netlab.RouteTable, _ *netlab.Routing) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "routes", router); err != nil {
		return err
	}
	if r := f.nss[router]; r == nil || !r.router {
		return fmt.Errorf("nsfake: no router namespace %s", router)
	}
	if up, ok := f.uplinks[router]; uplink != "" && (!ok || up.Link != uplink) {
		return fmt.Errorf("nsfake: router %s has no internet link %s", router, uplink)
	}
	if f.routes == nil {
		f.routes = map[string][]netlab.RouteTable{}
	}
	f.routes[router] = slices.Clone(tables)
	return nil
}

// Internet is the internet side, sorted: "internet NAME" once the namespace is there, then
// "uplink ROUTER>PEER public=ADDR,...", an IPv6 block as a prefix.
func (f *Fake) Internet() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	if f.inet != "" {
		out = append(out, "internet "+f.inet)
	}
	var ups []string
	for r, up := range f.uplinks {
		var pub []string
		for _, p := range f.public[up.Peer] {
			if p.IsSingleIP() {
				pub = append(pub, p.Addr().String()) // a public address
			} else {
				pub = append(pub, p.String()) // a VPC's IPv6 block
			}
		}
		ups = append(ups, fmt.Sprintf("uplink %s>%s public=%s", r, up.Peer, strings.Join(pub, ",")))
	}
	slices.Sort(ups)
	return append(out, ups...)
}

// Routes is a router's route tables as SetRoutes last set them.
func (f *Fake) Routes(router string) []netlab.RouteTable {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.routes[router])
}

// EnsureOverlay implements host.Namespaces: the router must exist; the same device is adopted,
// a different one replaced (losing its entries).
func (f *Fake) EnsureOverlay(ctx context.Context, router string, o netlab.Overlay) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "overlay", router); err != nil {
		return false, err
	}
	if r := f.nss[router]; r == nil || !r.router {
		return false, fmt.Errorf("nsfake: no router namespace %s", router)
	}
	if have, ok := f.overlays[router]; ok && have == o {
		return false, nil
	}
	if f.overlays == nil {
		f.overlays, f.peers = map[string]netlab.Overlay{}, map[string][]netlab.Peer{}
	}
	f.overlays[router] = o
	delete(f.peers, router)
	return true, nil
}

// SetPeers implements host.Namespaces: the router must have the device.
func (f *Fake) SetPeers(ctx context.Context, router, link string, peers []netlab.Peer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx, "peers", router); err != nil {
		return err
	}
	if o, ok := f.overlays[router]; !ok || o.Link != link {
		return fmt.Errorf("nsfake: router %s has no overlay %s", router, link)
	}
	f.peers[router] = slices.Clone(peers)
	return nil
}

// Overlay is a router's VXLAN device and its peers, as last set; ok is false without a device.
func (f *Fake) Overlay(router string) (o netlab.Overlay, peers []netlab.Peer, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok = f.overlays[router]
	return o, slices.Clone(f.peers[router]), ok
}
