package control

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/imds"
	"github.com/stockade/stockade/model"
)

const testPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdKzYyhg0BT3Ls7XQ5V5jSEKsy4xEUx3yXcVSAu9qUx"

func TestModifyInstanceMetadataOptionsErrors(t *testing.T) {
	e := newENITestService(t, nil)
	id := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}).Instances[0].ID
	gone := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}).Instances[0].ID
	e.terminate(gone)
	in := func(o model.MetadataOptions) ModifyMetadataOptionsInput {
		return ModifyMetadataOptionsInput{ID: id, Options: o}
	}
	runErrorCases(t, e, []errCase[ModifyMetadataOptionsInput]{
		{"no instance", ModifyMetadataOptionsInput{Options: model.MetadataOptions{HttpTokens: "required"}}, "MissingParameter", "InstanceId"},
		{"no option", in(model.MetadataOptions{}), "InvalidParameterCombination", "At least one"},
		{"tokens", in(model.MetadataOptions{HttpTokens: "always"}), "InvalidParameterValue", "HttpTokens"},
		{"hop limit 0 is unset, 65 too many", in(model.MetadataOptions{HttpPutResponseHopLimit: 65}), "InvalidParameterValue", "HttpPutResponseHopLimit"},
		{"endpoint", in(model.MetadataOptions{HttpEndpoint: "off"}), "InvalidParameterValue", "HttpEndpoint"},
		{"tags", in(model.MetadataOptions{InstanceMetadataTags: "yes"}), "InvalidParameterValue", "InstanceMetadataTags"},
		{"disabled with another option", in(model.MetadataOptions{HttpEndpoint: "disabled", HttpTokens: "required"}), "InvalidParameterCombination", "HttpEndpoint"},
		{"unknown instance", ModifyMetadataOptionsInput{ID: "i-0123456789abcdef0", Options: model.MetadataOptions{HttpTokens: "required"}}, "InvalidInstanceID.NotFound", ""},
		{"malformed instance", ModifyMetadataOptionsInput{ID: "i-xyz", Options: model.MetadataOptions{HttpTokens: "required"}}, "InvalidInstanceID.Malformed", ""},
		{"terminated", ModifyMetadataOptionsInput{ID: gone, Options: model.MetadataOptions{HttpTokens: "required"}}, "IncorrectInstanceState", gone},
		{"dry run", ModifyMetadataOptionsInput{ID: id, Options: model.MetadataOptions{HttpTokens: "required"}, DryRun: true}, "DryRunOperation", ""},
	}, e.s.ModifyInstanceMetadataOptions)
	if _, _, err := e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: image.DefaultID, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
		SubnetID: e.sn.ID, MetadataOptions: model.MetadataOptions{HttpPutResponseHopLimit: 100}}); err == nil {
		t.Error("RunInstances with hop limit 100 succeeded")
	} else {
		eniCheckErr(t, err, "InvalidParameterValue", "HttpPutResponseHopLimit")
	}
}

func TestModifyInstanceMetadataOptions(t *testing.T) {
	e := newENITestService(t, nil)
	id := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}).Instances[0].ID
	defaults := model.MetadataOptions{HttpTokens: "optional", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled", HttpProtocolIpv6: "disabled", InstanceMetadataTags: "disabled"}
	if d := cmp.Diff(defaults, e.instance(id).MetadataOptions); d != "" {
		t.Errorf("launched (-want +got):\n%s", d)
	}
	got := eniOK[model.MetadataOptions](t)(e.s.ModifyInstanceMetadataOptions(e.ctx, eniTenant,
		ModifyMetadataOptionsInput{ID: id, Options: model.MetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 2}}))
	want := defaults
	want.HttpTokens, want.HttpPutResponseHopLimit = "required", 2
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("reply (-want +got):\n%s", d)
	}
	got = eniOK[model.MetadataOptions](t)(e.s.ModifyInstanceMetadataOptions(e.ctx, eniTenant,
		ModifyMetadataOptionsInput{ID: id, Options: model.MetadataOptions{HttpEndpoint: "disabled"}}))
	want.HttpEndpoint = "disabled"
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("second change keeps the first (-want +got):\n%s", d)
	}
	e.reopen()
	if d := cmp.Diff(want, e.instance(id).MetadataOptions); d != "" {
		t.Errorf("after a restart (-want +got):\n%s", d)
	}
	m, ok := e.s.Metadata(eniTenant.Account, eniTenant.Region, id)
	if !ok || m.Options != want {
		t.Errorf("Metadata options: %+v %v", m.Options, ok)
	}
}

func TestMetadata(t *testing.T) {
	e := newENITestService(t, nil)
	eniOK[*model.KeyPair](t)(e.s.ImportKeyPair(e.ctx, eniTenant, ImportKeyPairInput{Name: "lab", Material: []byte(testPublicKey + " me@laptop")}))
	resv := e.run(RunInput{MinCount: 1, MaxCount: 1, KeyName: "lab", UserData: []byte("#!/bin/sh\n"), InstanceTags: model.Tags{"Name": "a"},
		Interfaces: []RunInterface{
			{DeviceIndex: 0, SubnetID: e.sn.ID, GroupIDs: []string{e.web.ID}, PrivateIP: "10.0.1.10"},
			{DeviceIndex: 1, SubnetID: e.small.ID, GroupIDs: []string{e.db.ID, e.web.ID}, PrivateIP: "10.0.2.5"},
		}})
	inst := resv.Instances[0]
	primary, second := resv.ENIs[inst.InterfaceIDs[0]], resv.ENIs[inst.InterfaceIDs[1]]

	got, ok := e.s.Metadata(eniTenant.Account, eniTenant.Region, inst.ID)
	if !ok {
		t.Fatal("no metadata for a running instance")
	}
	want := imds.Instance{
		ID: inst.ID, AccountID: eniTenant.Account, Region: eniTenant.Region, AZ: "us-east-1a", ImageID: image.DefaultID,
		InstanceType: "t3.micro", ReservationID: resv.ID, PendingTime: inst.LaunchTime,
		Hostname: model.PrivateDNSName(eniTenant.Region, netip.MustParseAddr("10.0.1.10")), PrivateIPv4: netip.MustParseAddr("10.0.1.10"),
		MAC: primary.MAC, KeyName: "lab", PublicKey: testPublicKey + " lab", UserData: []byte("#!/bin/sh\n"), Tags: map[string]string{"Name": "a"},
		Options: model.MetadataOptions{}.WithDefaults(),
		Interfaces: []imds.Interface{{
			MAC: primary.MAC, ID: primary.ID, SubnetID: e.sn.ID, SubnetCIDR: e.sn.CIDR, VpcID: e.vpc.ID, VpcCIDRs: []netip.Prefix{e.vpc.CIDR},
			OwnerID: eniTenant.Account, IPv4s: []netip.Addr{netip.MustParseAddr("10.0.1.10")}, IPv6s: []netip.Addr{},
			GroupNames: []string{"web"}, GroupIDs: []string{e.web.ID},
		}, {
			MAC: second.MAC, ID: second.ID, DeviceNumber: 1, SubnetID: e.small.ID, SubnetCIDR: e.small.CIDR, VpcID: e.vpc.ID,
			VpcCIDRs: []netip.Prefix{e.vpc.CIDR}, OwnerID: eniTenant.Account, IPv4s: []netip.Addr{netip.MustParseAddr("10.0.2.5")}, IPv6s: []netip.Addr{},
			GroupNames: []string{"db", "web"}, GroupIDs: []string{e.db.ID, e.web.ID},
		}},
	}
	opts := cmp.Options{eniCmpOpts, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
		cmp.Transformer("nilEmpty", func(a []netip.Addr) []netip.Addr {
			if len(a) == 0 {
				return nil
			}
			return a
		})}
	if d := cmp.Diff(want, got, opts); d != "" {
		t.Errorf("Metadata (-want +got):\n%s", d)
	}
	if primary.MAC == "" || primary.MAC == second.MAC {
		t.Errorf("MACs %q and %q: want distinct, as stored on the interfaces", primary.MAC, second.MAC)
	}

	// Groups are live: ModifyInstanceAttribute changes the primary's, ModifyNetworkInterfaceAttribute another's.
	eniOK[struct{}](t)(noOutput(e.s.ModifyInstance)(e.ctx, eniTenant, ModifyInstanceInput{ID: inst.ID, Groups: []string{e.db.ID, e.web.ID}}))
	eniOK[struct{}](t)(noOutput(e.s.ModifyENI)(e.ctx, eniTenant, ModifyENIInput{ID: second.ID, Groups: []string{e.web.ID}}))
	got, _ = e.s.Metadata(eniTenant.Account, eniTenant.Region, inst.ID)
	groups := [][]string{got.Interfaces[0].GroupNames, got.Interfaces[0].GroupIDs, got.Interfaces[1].GroupNames, got.Interfaces[1].GroupIDs}
	if d := cmp.Diff([][]string{{"db", "web"}, {e.db.ID, e.web.ID}, {"web"}, {e.web.ID}}, groups); d != "" {
		t.Errorf("groups after the changes (-want +got):\n%s", d)
	}

	// The launch key stays when the key pair is deleted.
	eniOK[string](t)(e.s.DeleteKeyPair(e.ctx, eniTenant, DeleteKeyPairInput{Name: "lab"}))
	if got, _ = e.s.Metadata(eniTenant.Account, eniTenant.Region, inst.ID); got.PublicKey != testPublicKey+" lab" {
		t.Errorf("key after DeleteKeyPair: %q", got.PublicKey)
	}

	// A terminated instance has none; an unknown tenant has none and is not created.
	e.terminate(inst.ID)
	if _, ok := e.s.Metadata(eniTenant.Account, eniTenant.Region, inst.ID); ok {
		t.Error("metadata of a terminated instance")
	}
	if _, ok := e.s.Metadata("999999999999", "eu-west-1", inst.ID); ok {
		t.Error("metadata in another tenant")
	}
	e.s.mu.Lock()
	_, made := e.s.tenants[Tenant{Account: "999999999999", Region: "eu-west-1"}]
	e.s.mu.Unlock()
	if made {
		t.Error("Metadata created a tenant")
	}
}

// The metadata service over Service.Metadata: security-groups follows ModifyInstanceAttribute
// and ModifyNetworkInterfaceAttribute, and ModifyInstanceMetadataOptions applies at once.
func TestMetadataServiceIsLive(t *testing.T) {
	e := newENITestService(t, nil)
	resv := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID, GroupIDs: []string{e.web.ID}})
	inst := resv.Instances[0]
	mac := resv.ENIs[inst.InterfaceIDs[0]].MAC
	srv := imds.New(func(id string) (imds.Instance, bool) { return e.s.Metadata(eniTenant.Account, eniTenant.Region, id) }, imds.Config{})
	get := func(path string) (int, string) {
		t.Helper()
		w := httptest.NewRecorder()
		srv.Handler(inst.ID).ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Code, w.Body.String()
	}
	if _, body := get("/latest/meta-data/security-groups"); body != "web" {
		t.Errorf("at launch: %q", body)
	}
	eniOK[struct{}](t)(noOutput(e.s.ModifyInstance)(e.ctx, eniTenant, ModifyInstanceInput{ID: inst.ID, Groups: []string{e.db.ID}}))
	if _, body := get("/latest/meta-data/security-groups"); body != "db" {
		t.Errorf("after ModifyInstanceAttribute: %q", body)
	}
	eniOK[struct{}](t)(noOutput(e.s.ModifyENI)(e.ctx, eniTenant, ModifyENIInput{ID: inst.InterfaceIDs[0], Groups: []string{e.web.ID, e.db.ID}}))
	if _, body := get("/latest/meta-data/network/interfaces/macs/" + mac + "/security-group-ids"); body != e.web.ID+"\n"+e.db.ID {
		t.Errorf("after ModifyNetworkInterfaceAttribute: %q", body)
	}
	eniOK[model.MetadataOptions](t)(e.s.ModifyInstanceMetadataOptions(e.ctx, eniTenant,
		ModifyMetadataOptionsInput{ID: inst.ID, Options: model.MetadataOptions{HttpTokens: "required"}}))
	if code, _ := get("/latest/meta-data/instance-id"); code != 401 {
		t.Errorf("tokens required, no token: %d, want 401", code)
	}
	e.terminate(inst.ID)
	if code, _ := get("/latest/meta-data/instance-id"); code != 404 {
		t.Errorf("terminated: %d, want 404", code)
	}
}
