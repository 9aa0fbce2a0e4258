package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"

	"github.com/stockade/stockade/internal/hostlock"
)

func TestHostLinkNames(t *testing.T) {
	n := Names{Prefix: "abcde"}
	for _, l := range []string{n.HostLinkName(), n.HostLinkPeer()} {
		if len(l) > 15 || !strings.HasPrefix(l, "abcde-") || l == n.InternetLink() || l == n.OperatorLink() || l == n.Link("eni-1") {
			t.Errorf("%q: want at most 15 characters, the prefix, and no other link's name", l)
		}
	}
	if n.HostLinkName() == n.HostLinkPeer() {
		t.Error("the two ends share a name")
	}
}

func TestNewHostLink(t *testing.T) {
	n := Names{Prefix: "stk"}
	pool := netip.MustParsePrefix("198.18.0.0/15")
	reply := []netip.Prefix{netip.MustParsePrefix("203.0.113.10/32"), pool}
	for _, tc := range []struct {
		name    string
		allow   []string
		masq    bool
		want    HostLink
		wantErr string
	}{
		{name: "none: no link", want: HostLink{}},
		{name: "the host end", allow: []string{"198.51.100.1/32"}, want: HostLink{Link: "stk-inet", Peer: "stk-host", Internet: "stk-internet",
			Allow: []netip.Prefix{netip.MustParsePrefix("198.51.100.1/32")}, Reply: reply}},
		{name: "masked, sorted, once", allow: []string{"10.9.0.7/16", "10.1.0.0/16", "10.9.0.0/16"}, want: HostLink{Link: "stk-inet", Peer: "stk-host",
			Internet: "stk-internet", Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.9.0.0/16")}, Reply: reply}},
		{name: "masquerade implies the default", masq: true, want: HostLink{Link: "stk-inet", Peer: "stk-host", Internet: "stk-internet",
			Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Masquerade: true, Reply: reply}},
		{name: "default with masquerade", allow: []string{"0.0.0.0/0"}, masq: true, want: HostLink{Link: "stk-inet", Peer: "stk-host",
			Internet: "stk-internet", Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Masquerade: true, Reply: reply}},
		{name: "default without masquerade", allow: []string{"0.0.0.0/0"}, wantErr: "needs --internet-masquerade"},
		{name: "the public pool", allow: []string{"198.19.0.0/24"}, wantErr: "overlaps"},
		{name: "around the public pool", allow: []string{"198.0.0.0/8"}, wantErr: "overlaps"},
		{name: "the internet host", allow: []string{"203.0.113.0/24"}, wantErr: "overlaps"},
		{name: "the internet end of the link", allow: []string{"198.51.100.0/30"}, wantErr: "overlaps"},
		{name: "the VPC links' hops", allow: []string{"169.254.0.0/16"}, wantErr: "overlaps"},
		{name: "not a CIDR", allow: []string{"198.51.100.1"}, wantErr: "want an IPv4 CIDR"},
		{name: "IPv6", allow: []string{"fd00::/64"}, wantErr: "want an IPv4 CIDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewHostLink(n, tc.allow, tc.masq, pool)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if got.On() != (len(tc.allow) > 0 || tc.masq) {
				t.Errorf("On = %v", got.On())
			}
		})
	}
}

// TestMasqueradeRules: the rules of --internet-masquerade, as text only (never loaded in a
// test: machine safety).
func TestMasqueradeRules(t *testing.T) {
	got := MasqueradeRules("stk-inet", []string{"eth0"})
	want := `table ip stockade_internet
delete table ip stockade_internet
table ip stockade_internet {
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "stk-inet" oifname != "stk-inet" accept
		oifname "stk-inet" ct state established,related accept
		oifname "stk-inet" drop
		iifname "eth0" drop
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		iifname "stk-inet" oifname != "stk-inet" masquerade
	}
}
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	// The table is the record of the devices it turned forwarding on for.
	if diff := cmp.Diff([]string{"eth0"}, parseTurnedOn(got)); diff != "" {
		t.Errorf("parseTurnedOn (-want +got)\n%s", diff)
	}
	if d := parseTurnedOn(MasqueradeRules("stk-inet", nil)); len(d) != 0 {
		t.Errorf("parseTurnedOn without devices = %v", d)
	}
}

// TestHostDefaultsMakeNoLink: the zero Host (no opt-in) makes no host link with the internet
// namespace.
func TestHostDefaultsMakeNoLink(t *testing.T) {
	if (Host{}).HostLink.On() {
		t.Fatal("the default host links the internet to the host")
	}
	if err := EnsureHostLink(context.Background(), HostLink{Link: "x", Peer: "y", Internet: "nosuchnamespace"}); err != nil {
		t.Fatalf("EnsureHostLink without Allow = %v, want nothing done", err)
	}
}

// TestKernelHostLink (no traffic, no masquerade): the link, its addresses and exactly the
// routes of the opt-in on both sides; a changed opt-in changes the routes; RemoveHostLink
// takes it all away.
func TestKernelHostLink(t *testing.T) {
	if why := Unavailable(); why != "" {
		t.Skip("kernel tier: " + why)
	}
	release, err := hostlock.Hold(hostlock.HostLink)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // last: after the link is gone
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	names := Names{Prefix: "h" + hex.EncodeToString(b)}
	ctx := context.Background()
	t.Cleanup(func() {
		_ = RemoveHostLink(names)
		_ = Remove(ctx, names.Internet())
	})
	pool := netip.MustParsePrefix("198.19.254.0/24")
	hl, err := NewHostLink(names, []string{"198.51.100.1/32", "192.0.2.0/24"}, false, pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateInternet(ctx, names.Internet()); err != nil {
		t.Fatal(err)
	}
	for range 2 { // made, then adopted
		if err := EnsureHostLink(ctx, hl); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"192.0.2.0/24 via 198.51.100.1", "198.51.100.1/32 via 198.51.100.1"}, linkRoutes(t, names.Internet(), hl.Peer)); diff != "" {
		t.Errorf("internet routes (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{"198.19.254.0/24 via 198.51.100.2", "198.51.100.0/30", "203.0.113.10/32 via 198.51.100.2"}, linkRoutes(t, "", hl.Link)); diff != "" {
		t.Errorf("host routes (-want +got)\n%s", diff)
	}
	if v, err := os.ReadFile(sysctlPath("ipv4.conf." + hl.Link + ".forwarding")); err != nil || strings.TrimSpace(string(v)) != "0" {
		t.Errorf("forwarding on the host's end = %q, %v; want 0", v, err)
	}
	hl.Allow = []netip.Prefix{netip.MustParsePrefix("198.51.100.1/32")}
	if err := EnsureHostLink(ctx, hl); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"198.51.100.1/32 via 198.51.100.1"}, linkRoutes(t, names.Internet(), hl.Peer)); diff != "" {
		t.Errorf("internet routes after a narrower opt-in (-want +got)\n%s", diff)
	}
	if err := RemoveHostLink(names); err != nil {
		t.Fatal(err)
	}
	var nf netlink.LinkNotFoundError
	if _, err := netlink.LinkByName(hl.Link); !errors.As(err, &nf) {
		t.Errorf("host end after RemoveHostLink: %v", err)
	}
	h, err := handle(names.Internet())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.LinkByName(hl.Peer); !errors.As(err, &nf) {
		t.Errorf("internet end after RemoveHostLink: %v", err)
	}
}

// linkRoutes lists the IPv4 routes of a link ("" : the host's namespace) as "dst [via gw]".
func linkRoutes(t *testing.T, ns, link string) []string {
	t.Helper()
	var out []string
	list := func() error {
		l, err := netlink.LinkByName(link)
		if err != nil {
			return err
		}
		rs, err := netlink.RouteList(l, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range rs {
			s := prefixOf(r.Dst).String()
			if r.Gw != nil {
				s += " via " + r.Gw.String()
			}
			out = append(out, s)
		}
		return nil
	}
	var err error
	if ns == "" {
		err = list()
	} else {
		err = Do(ns, list)
	}
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
