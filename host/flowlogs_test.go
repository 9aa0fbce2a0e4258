package host

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/dataplane"
	"github.com/stockade/stockade/flowlog"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// TestFlowLogView: which interfaces the recorder reports on (covered by a flow log of their
// VPC, subnet or self, and attached to a running instance), how each is described, and which
// the ruleset logs (and with TCP flags).
func TestFlowLogView(t *testing.T) {
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	vpc := &model.VPC{ID: "vpc-1", CIDR: p("10.0.0.0/16")}
	sn1 := &model.Subnet{ID: "subnet-1", VpcID: "vpc-1", CIDR: p("10.0.1.0/24"), AZID: "use1-az1"}
	sn2 := &model.Subnet{ID: "subnet-2", VpcID: "vpc-1", CIDR: p("10.0.2.0/24"), AZID: "use1-az2"}
	eni := func(id, subnet, ip, instance string) *model.NetworkInterface {
		return &model.NetworkInterface{ID: id, VpcID: "vpc-1", SubnetID: subnet, OwnerID: "111122223333", PrivateIP: a(ip),
			Attachment: &model.Attachment{InstanceID: instance}}
	}
	e1, e2, e3 := eni("eni-1", "subnet-1", "10.0.1.4", "i-1"), eni("eni-2", "subnet-2", "10.0.2.4", "i-2"), eni("eni-3", "subnet-2", "10.0.2.5", "i-3")
	n := netmap.Network{Tenant: netmap.Tenant{Account: "111122223333", Region: "us-east-1"},
		Snapshot: netmap.Snapshot{VPCs: []*model.VPC{vpc}, Subnets: []*model.Subnet{sn1, sn2}, ENIs: []*model.NetworkInterface{e1, e2, e3},
			FlowLogs: []*model.FlowLog{
				{ID: "fl-1", ResourceID: "subnet-2", Format: model.DefaultFlowLogFormat},
				{ID: "fl-2", ResourceID: "eni-3", Format: "${interface-id} ${tcp-flags}"},
			}},
		Instances: []*model.Instance{{ID: "i-1", State: model.StateRunning}, {ID: "i-2", State: model.StateRunning}, {ID: "i-3", State: model.StateStopped}}}
	covered, flags := flowLogCoverage(n.Snapshot, "vpc-1")
	if diff := cmp.Diff([]map[string]bool{{"eni-2": true, "eni-3": true}, {"eni-3": true}}, []map[string]bool{covered, flags}); diff != "" {
		t.Errorf("coverage (-want +got)\n%s", diff)
	}
	r := &FlowLogs{Names: netlab.Names{Prefix: "stk"}}
	v := r.buildView([]netmap.Network{n})
	// eni-1 is not covered; eni-3's instance is stopped: no records, not even NODATA.
	want := &flowlog.Interface{ID: "eni-2", Account: "111122223333", VPC: "vpc-1", Subnet: "subnet-2", Instance: "i-2", Region: "us-east-1", AZID: "use1-az2",
		Primary: a("10.0.2.4"), VPCPrefixes: []netip.Prefix{p("10.0.0.0/16")}, Unlogged: []netip.Addr{a("10.0.2.1"), a("10.0.0.2")}}
	cmpAddr := cmp.Comparer(func(x, y netip.Addr) bool { return x == y })
	cmpPrefix := cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })
	if diff := cmp.Diff([]*flowlog.Interface{want}, v.ifaces, cmpAddr, cmpPrefix); diff != "" {
		t.Errorf("interfaces (-want +got)\n%s", diff)
	}
	rf := v.routers["stk-vpc-1"]
	if rf == nil || rf.byAddr[a("10.0.2.4")] != v.ifaces[0] || rf.byLink[r.Names.Link("eni-2")] != v.ifaces[0] || len(v.logs) != 2 {
		t.Errorf("router view %+v, logs %d", rf, len(v.logs))
	}
}

// TestFlowLogLogged: how the recorder reads the router's log messages: the groups' refusal
// of a new connection gives the sender's ACCEPT and the receiver's REJECT; a guard that held
// packets back gives SKIPDATA to the interfaces the message names.
func TestFlowLogLogged(t *testing.T) {
	a := netip.MustParseAddr
	src := &flowlog.Interface{ID: "eni-1", Primary: a("10.0.1.4")}
	dst := &flowlog.Interface{ID: "eni-2", Primary: a("10.0.2.4")}
	rf := &routerFlows{ifaces: []*flowlog.Interface{src, dst}, byLink: map[string]*flowlog.Interface{"l1": src, "l2": dst}}
	fr := &flowReader{names: map[uint32]string{1: "l1", 2: "l2"}}
	syn := make([]byte, 40)
	syn[0], syn[3], syn[9], syn[33] = 0x45, 60, 6, 0x02
	copy(syn[12:], []byte{10, 0, 1, 4})
	copy(syn[16:], []byte{10, 0, 2, 4})
	syn[22], syn[23] = 0x1f, 0x90 // port 8080
	ws := time.Unix(1_800_000_000, 0).Truncate(time.Minute)
	for _, tt := range []struct {
		name string
		p    dataplane.LogPacket
		want []string
	}{
		{"receiver's group refuses", dataplane.LogPacket{Group: dataplane.LogGroupRejected, Prefix: dataplane.LogPrefixGroups,
			Mark: dataplane.MarkEgressAdmitted, InIf: 1, OutIf: 2, Payload: syn},
			[]string{"eni-1 egress ACCEPT 2 OK", "eni-2 ingress REJECT 2 OK"}},
		{"sender's group refuses", dataplane.LogPacket{Group: dataplane.LogGroupRejected, Prefix: dataplane.LogPrefixGroups,
			Mark: dataplane.MarkIngressAdmitted, InIf: 1, OutIf: 2, Payload: syn},
			[]string{"eni-1 egress REJECT 2 OK", "eni-2 - - - NODATA"}},
		{"guard held packets back", dataplane.LogPacket{Group: dataplane.LogGroupRejected, Prefix: dataplane.LogPrefixOver, InIf: 1, OutIf: 2, Payload: syn},
			[]string{"eni-1 - - - SKIPDATA", "eni-2 - - - SKIPDATA"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &FlowLogs{agg: flowlog.NewAggregator(0)}
			r.logged(fr, rf, tt.p, ws.Unix()+1)
			f, _ := flowlog.ParseFormat("${interface-id} ${flow-direction} ${action} ${tcp-flags} ${log-status}")
			var got []string
			for _, rec := range r.agg.Close(ws, time.Minute, rf.ifaces) {
				got = append(got, f.Line(&rec))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestFlowLogViewPlaced: on two hosts, each recorder reports on the covered interfaces placed
// on its own host and on no other, so that each interface's records are written once; the
// two views together are the single host's. An interface placed nowhere (its instance was
// placed before any host registered, and runs nowhere) is no host's.
func TestFlowLogViewPlaced(t *testing.T) {
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	vpc := &model.VPC{ID: "vpc-1", CIDR: p("10.0.0.0/16"), VNI: 9}
	sn := &model.Subnet{ID: "subnet-1", VpcID: "vpc-1", CIDR: p("10.0.1.0/24"), AZID: "use1-az1"}
	var enis []*model.NetworkInterface
	var instances []*model.Instance
	for i := 1; i <= 4; i++ {
		id, in := fmt.Sprintf("eni-%d", i), fmt.Sprintf("i-%d", i)
		enis = append(enis, &model.NetworkInterface{ID: id, VpcID: "vpc-1", SubnetID: "subnet-1", OwnerID: "111122223333",
			PrivateIP: a(fmt.Sprintf("10.0.1.%d", 10+i)), Attachment: &model.Attachment{InstanceID: in}})
		instances = append(instances, &model.Instance{ID: in, VpcID: "vpc-1", State: model.StateRunning, InterfaceIDs: []string{id}})
	}
	n := netmap.Network{Tenant: netmap.Tenant{Account: "111122223333", Region: "us-east-1"},
		Snapshot: netmap.Snapshot{VPCs: []*model.VPC{vpc}, Subnets: []*model.Subnet{sn}, ENIs: enis,
			FlowLogs: []*model.FlowLog{{ID: "fl-1", ResourceID: "vpc-1", Format: model.DefaultFlowLogFormat}}},
		Instances: instances}
	under := map[string]netip.Addr{"h1": a("192.0.2.1"), "h2": a("192.0.2.2")}
	of := map[string]string{"eni-1": "h1", "eni-2": "h2", "eni-3": "h2", "eni-4": ""}
	view := func(self string) (ids []string, addrs []netip.Addr) {
		r := &FlowLogs{Names: netlab.Names{Prefix: "stk"}}
		if self != "" {
			r.Placement = func([]netmap.Network) Placement {
				return Placement{Self: self, Namespace: "u-" + self, Underlay: under, Of: of}
			}
		}
		v := r.buildView([]netmap.Network{n})
		for _, ifc := range v.ifaces {
			ids = append(ids, ifc.ID)
		}
		if rf := v.routers["stk-vpc-1"]; rf != nil {
			addrs = slices.SortedFunc(maps.Keys(rf.byAddr), netip.Addr.Compare)
		}
		return ids, addrs
	}
	cmpAddr := cmp.Comparer(func(x, y netip.Addr) bool { return x == y })
	for _, tt := range []struct {
		self      string
		wantIDs   []string
		wantAddrs []netip.Addr
	}{
		{"h1", []string{"eni-1"}, []netip.Addr{a("10.0.1.11")}},
		{"h2", []string{"eni-2", "eni-3"}, []netip.Addr{a("10.0.1.12"), a("10.0.1.13")}},
		{"", []string{"eni-1", "eni-2", "eni-3", "eni-4"}, []netip.Addr{a("10.0.1.11"), a("10.0.1.12"), a("10.0.1.13"), a("10.0.1.14")}},
	} {
		ids, addrs := view(tt.self)
		if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
			t.Errorf("host %q: interfaces (-want +got)\n%s", tt.self, diff)
		}
		if diff := cmp.Diff(tt.wantAddrs, addrs, cmpAddr); diff != "" {
			t.Errorf("host %q: the router's addresses (-want +got)\n%s", tt.self, diff)
		}
	}
}
