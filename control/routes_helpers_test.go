package control

import (
	"context"
	"testing"
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
