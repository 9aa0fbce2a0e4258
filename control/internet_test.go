package control

import (
	"testing"

	"github.com/stockade/stockade/model"
)

// TestAddressesFollowInternetGateways joins the two halves of issue 12's API: an Elastic IP
// can be associated in a VPC only while an internet gateway is attached to it, and the gateway
// cannot be detached while a public address is mapped in the VPC.
func TestAddressesFollowInternetGateways(t *testing.T) {
	e := newENITestService(t, nil)
	_, eni := e.launchIn(e.sn.ID, new(false)) // a custom VPC: no gateway yet
	a := e.allocate(eniTenant)
	assoc := AssociateAddressInput{AddressRef: AddressRef{AllocationID: a.AllocationID}, ENIID: eni.ID}
	_, _, err := e.s.AssociateAddress(e.ctx, eniTenant, assoc)
	eniCheckErr(t, err, "Gateway.NotAttached", "")
	g := eniOK[*model.InternetGateway](t)(e.s.CreateInternetGateway(e.ctx, eniTenant, CreateInternetGatewayInput{}))
	attach := IGWInput{GatewayID: g.ID, VpcID: eni.VpcID}
	if _, err := e.s.AttachInternetGateway(e.ctx, eniTenant, attach); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.AssociateAddress(e.ctx, eniTenant, assoc); err != nil {
		t.Fatalf("associate with a gateway attached: %v", err)
	}
	before := e.s.Revision()
	_, err = e.s.DetachInternetGateway(e.ctx, eniTenant, attach)
	eniCheckErr(t, err, "DependencyViolation", "mapped public address")
	if e.s.Revision() != before {
		t.Errorf("a refused detach changed the revision %d → %d", before, e.s.Revision())
	}
	id := lookup(e, func(v View) (*model.Address, error) { return v.Address(a.AllocationID) }).AssociationID
	if _, err := e.s.DisassociateAddress(e.ctx, eniTenant, DisassociateAddressInput{AssociationID: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DetachInternetGateway(e.ctx, eniTenant, attach); err != nil {
		t.Errorf("detach once nothing is mapped: %v", err)
	}
}
