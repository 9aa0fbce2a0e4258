package control

import (
	"testing"

	"github.com/stockade/stockade/model"
)

// TestRequesterManagedInterfaceRefusesChanges: a NAT gateway's interface is the gateway's.
// Its owner sees it and may tag it, and every other change — its groups, description,
// source/destination check, attachment, addresses, Elastic IPs, a launch on it, its deletion
// while the gateway holds it — is refused and changes nothing (EC2 user guide,
// "Requester-managed network interfaces").
func TestRequesterManagedInterfaceRefusesChanges(t *testing.T) {
	e := newENITestService(t, nil)
	gw := eniOK[*model.NATGateway](t)(e.s.CreateNATGateway(e.ctx, eniTenant, CreateNATGatewayInput{SubnetID: e.sn.ID, ConnectivityType: "private"}))
	nat := gw.ENIID
	inst := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}).Instances[0]
	eip := e.allocate(eniTenant)
	desc, off := "mine now", false
	const denied = "You do not have permission to access the specified resource."
	for _, tc := range []struct {
		name, code, msg string
		call            func() error
	}{
		{"groups", "AuthFailure", denied, func() error {
			_, err := e.s.ModifyENI(e.ctx, eniTenant, ModifyENIInput{ID: nat, Groups: []string{e.web.ID}})
			return err
		}},
		{"description", "AuthFailure", denied, func() error {
			_, err := e.s.ModifyENI(e.ctx, eniTenant, ModifyENIInput{ID: nat, Description: &desc})
			return err
		}},
		{"source/dest check", "AuthFailure", denied, func() error {
			_, err := e.s.ModifyENI(e.ctx, eniTenant, ModifyENIInput{ID: nat, SourceDestCheck: &off})
			return err
		}},
		{"attach", "AuthFailure", denied, func() error {
			_, _, err := e.s.AttachENI(e.ctx, eniTenant, AttachENIInput{ENIID: nat, InstanceID: inst.ID, DeviceIndex: 1})
			return err
		}},
		{"assign IPv4", "AuthFailure", denied, func() error {
			_, _, err := e.s.AssignPrivateIPs(e.ctx, eniTenant, AssignPrivateIPsInput{ENIID: nat, Count: 1})
			return err
		}},
		{"unassign IPv4", "AuthFailure", denied, func() error {
			_, err := e.s.UnassignPrivateIPs(e.ctx, eniTenant, UnassignPrivateIPsInput{ENIID: nat, Addrs: []string{"10.0.1.200"}})
			return err
		}},
		{"assign IPv6", "AuthFailure", denied, func() error {
			_, _, err := e.s.AssignIPv6(e.ctx, eniTenant, AssignIPv6Input{ENIID: nat, Count: 1})
			return err
		}},
		{"unassign IPv6", "AuthFailure", denied, func() error {
			_, _, err := e.s.UnassignIPv6(e.ctx, eniTenant, UnassignIPv6Input{ENIID: nat, Addrs: []string{"2001:db8::1"}})
			return err
		}},
		{"associate an Elastic IP", "AuthFailure", denied, func() error {
			_, _, err := e.s.AssociateAddress(e.ctx, eniTenant, AssociateAddressInput{AddressRef: AddressRef{AllocationID: eip.AllocationID}, ENIID: nat})
			return err
		}},
		{"launch on it", "AuthFailure", denied, func() error {
			_, _, err := e.s.RunInstances(e.ctx, eniTenant, RunInput{ImageID: inst.ImageID, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
				Interfaces: []RunInterface{{DeviceIndex: 0, NetworkInterfaceID: nat}}})
			return err
		}},
		{"delete", "InvalidParameterValue", "Network interface '" + nat + "' is currently in use.", func() error {
			_, err := e.s.DeleteENI(e.ctx, eniTenant, IDInput{ID: nat})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			eniCheckErr(t, tc.call(), tc.code, tc.msg)
			e.checkUnchanged(before)
		})
	}
	// Tags are the owner's to change.
	if _, err := e.s.CreateTags(e.ctx, eniTenant, CreateTagsInput{IDs: []string{nat}, Tags: model.Tags{"team": "net"}}); err != nil {
		t.Errorf("tagging a NAT gateway's interface: %v", err)
	}
}
