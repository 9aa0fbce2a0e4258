package control

import (
	"context"
	"testing"

	"github.com/stockade/stockade/model"
)

// dropDefaultIGW detaches and deletes the default VPC's internet gateway, which on AWS (as
// here) keeps the VPC from being deleted.
func dropDefaultIGW(t testing.TB, s *Service, tn Tenant) {
	t.Helper()
	ctx := context.Background()
	var vpcID, igwID string
	s.View(ctx, tn, func(v View) error {
		vpcID = v.DefaultVPC().ID
		for _, g := range v.InternetGateways() {
			if g.VpcID == vpcID {
				igwID = g.ID
			}
		}
		return nil
	})
	if _, err := s.DetachInternetGateway(ctx, tn, IGWInput{GatewayID: igwID, VpcID: vpcID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteInternetGateway(ctx, tn, IDInput{ID: igwID}); err != nil {
		t.Fatal(err)
	}
}

// deleteDefaultVPC deletes the tenant's default VPC with what keeps it alive: its default
// subnets and its internet gateway.
func deleteDefaultVPC(t testing.TB, s *Service, tn Tenant) {
	t.Helper()
	ctx := context.Background()
	dflt := mustViewOf(t, s, tn, func(v View) *model.VPC { return v.DefaultVPC() })
	for _, sn := range mustViewOf(t, s, tn, func(v View) []*model.Subnet { return v.Subnets() }) {
		if sn.VpcID != dflt.ID {
			continue
		}
		if _, err := s.DeleteSubnet(ctx, tn, IDInput{ID: sn.ID}); err != nil {
			t.Fatal(err)
		}
	}
	dropDefaultIGW(t, s, tn)
	if _, err := s.DeleteVPC(ctx, tn, IDInput{ID: dflt.ID}); err != nil {
		t.Fatal(err)
	}
}
