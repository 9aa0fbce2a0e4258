package control

import (
	"context"
	"time"

	"github.com/stockade/stockade/model"
)

// NAT gateways (EC2 API "CreateNatGateway", "DeleteNatGateway", "DescribeNatGateways").
//
// A gateway owns a requester-managed interface in its subnet (interface type nat_gateway, no
// security groups, as on AWS) and, when public, the Elastic IP it was given, associated with
// that interface. AWS creates gateways "pending" and makes them "available" after a minute or
// two; Stockade has nothing to wait for, so a gateway is "available" as soon as CreateNatGateway
// returns (the reply itself says "pending", as EC2's does). Deleting goes straight to
// "deleted" for the same reason; the reply names only the gateway. Conditions AWS reports
// asynchronously — no internet gateway, an Elastic IP already in use, a full subnet — make
// the gateway "failed" with AWS's failure code and message, rather than failing the call.
// Deleted and failed gateways stay visible for an hour (model.NATGatewayVisibleFor), then are
// purged like terminated instances (retention.go).

// CreateNATGatewayInput are CreateNatGateway's parameters.
type CreateNATGatewayInput struct {
	SubnetID         string
	AllocationID     string
	ConnectivityType string // public (default) or private
	PrivateIP        string
	Tags             model.Tags
	ClientToken      string
	DryRun           bool
}

// CreateNATGateway creates a NAT gateway; the reply shows it pending.
func (s *Service) CreateNATGateway(ctx context.Context, t Tenant, in CreateNATGatewayInput) (*model.NATGateway, Result, error) {
	if in.SubnetID == "" {
		return nil, Result{}, model.Missing("SubnetId")
	}
	switch in.ConnectivityType {
	case "":
		in.ConnectivityType = model.NATPublic
	case model.NATPublic, model.NATPrivate:
	default:
		return nil, Result{}, model.InvalidValue("Value (%s) for parameter connectivityType is invalid. Valid values: private, public", in.ConnectivityType)
	}
	switch {
	case in.ConnectivityType == model.NATPublic && in.AllocationID == "":
		// [UNCONFIRMED] code: a public gateway needs an Elastic IP.
		return nil, Result{}, model.Missing("AllocationId")
	case in.ConnectivityType == model.NATPrivate && in.AllocationID != "":
		// [UNCONFIRMED] code and wording.
		return nil, Result{}, model.InvalidParameterCombination.Errorf("An Elastic IP address cannot be associated with a private NAT gateway.")
	}
	if err := model.ValidateClientToken(in.ClientToken); err != nil {
		return nil, Result{}, err
	}
	var gw *model.NATGateway
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		fp := fingerprint("CreateNatGateway", in)
		if ids, done, err := tx.replay("CreateNatGateway", in.ClientToken, fp); err != nil || done {
			if err == nil {
				gw, err = tx.tn.natGateway(ids[0])
			}
			return err
		}
		sn, err := tx.tn.subnet(in.SubnetID)
		if err != nil {
			return err
		}
		var addr *model.Address
		if in.AllocationID != "" {
			if addr, err = tx.tn.address(in.AllocationID); err != nil {
				return err
			}
		}
		n := 0
		for _, o := range tx.tn.natGateways {
			if !o.Gone() && tx.tn.subnets[o.SubnetID] != nil && tx.tn.subnets[o.SubnetID].AZ == sn.AZ {
				n++
			}
		}
		if n >= s.cfg.Quotas.NATGatewaysPerAZ {
			return model.NatGatewayLimitExceeded.New()
		}
		gw = &model.NATGateway{ID: model.NewID(model.PrefixNATGateway), SubnetID: sn.ID, VpcID: sn.VpcID, OwnerID: t.Account,
			ConnectivityType: in.ConnectivityType, State: model.NATAvailable, CreateTime: tx.now, Tags: in.Tags}
		if err := s.provisionNAT(tx, gw, sn, addr, in.PrivateIP); err != nil {
			return err
		}
		if err := tx.placeNAT(gw, sn.AZ); err != nil {
			return err
		}
		set(tx, tx.tn.natGateways, kindNATGateway, gw.ID, gw)
		if gw.Gone() {
			tx.schedulePurge()
		}
		tx.remember("CreateNatGateway", in.ClientToken, fp, gw.ID)
		return nil
	})
	if err != nil {
		return nil, res, err
	}
	shown := gw.Clone()
	if shown.State == model.NATAvailable {
		shown.State = model.NATPending
	}
	return shown, res, nil
}

// provisionNAT gives a new gateway its interface and Elastic IP, or marks it failed with the
// code and message AWS documents for the condition (EC2 API "NatGateway", failureCode). Only
// a request error (a bad PrivateIpAddress) fails the call.
func (s *Service) provisionNAT(tx *tx, gw *model.NATGateway, sn *model.Subnet, addr *model.Address, privateIP string) error {
	fail := func(code, msg string) {
		gw.State, gw.FailureCode, gw.FailureMessage, gw.DeleteTime = model.NATFailed, code, msg, tx.now
	}
	if gw.ConnectivityType == model.NATPublic {
		if !tx.tn.internetAttached(sn.VpcID) {
			fail(model.GatewayNotAttached.Name, "Network "+sn.VpcID+" has no Internet gateway attached")
			return nil
		}
		if addr.Associated() {
			fail(model.ResourceAlreadyAssociated.Name, "Elastic IP address "+addr.AllocationID+" is already associated")
			return nil
		}
	}
	eni, err := s.newENI(tx, sn, nil, addrRequest{private: privateIP}, nil, "Interface for NAT Gateway "+gw.ID, nil)
	if err != nil {
		if e, ok := err.(*model.Error); ok && e.Code == model.InsufficientFreeAddressesInSubnet.Name {
			fail(e.Code, "Subnet has insufficient free addresses to create this NAT gateway")
			return nil
		}
		return err
	}
	// A NAT gateway's interface has no security groups (they do not apply to it on AWS).
	eni.Groups, eni.RequesterManaged, eni.InterfaceType, eni.SourceDestCheck = nil, true, "nat_gateway", false
	set(tx, tx.tn.enis, kindENI, eni.ID, eni)
	gw.ENIID, gw.PrivateIP = eni.ID, eni.PrivateIP
	if addr != nil {
		gw.AllocationID, gw.PublicIP = addr.AllocationID, addr.PublicIP
		gw.AssociationID = model.NewID(model.PrefixEIPAssoc)
		tx.associateAddress(addr, eni, eni.PrivateIP, gw.AssociationID)
	}
	return nil
}

// DeleteNATGateway deletes a gateway: its interface goes, its Elastic IP is disassociated and
// stays allocated.
func (s *Service) DeleteNATGateway(ctx context.Context, t Tenant, in IDInput) (Result, error) {
	if in.ID == "" {
		return Result{}, model.Missing("NatGatewayId")
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		gw, err := tx.tn.natGateway(in.ID)
		if err != nil {
			return err
		}
		if gw.Gone() {
			// [UNCONFIRMED] EC2's answer for deleting a deleted gateway.
			return model.NatGatewayNotFound.New(in.ID)
		}
		if eni := tx.tn.enis[gw.ENIID]; eni != nil {
			tx.dropENIAddresses(eni)
			set[model.NetworkInterface](tx, tx.tn.enis, kindENI, eni.ID, nil)
		}
		c := gw.Clone()
		c.State, c.DeleteTime, c.ENIID, c.AssociationID = model.NATDeleted, tx.now, "", ""
		set(tx, tx.tn.natGateways, kindNATGateway, c.ID, c)
		tx.schedulePurge()
		return nil
	})
}

// natGateway returns a gateway by ID (deleted and failed ones for their hour) or EC2's errors.
func (tn *tenant) natGateway(id string) (*model.NATGateway, error) {
	if g := tn.natGateways[id]; g != nil && !tn.natExpired(g) {
		return g, nil
	}
	if !model.ValidID(model.PrefixNATGateway, id) {
		return nil, model.NatGatewayMalformed.New(id)
	}
	return nil, model.NatGatewayNotFound.New(id)
}

// natExpired reports whether a deleted or failed gateway has passed its hour of visibility.
func (tn *tenant) natExpired(g *model.NATGateway) bool {
	return g.Gone() && !g.DeleteTime.IsZero() && tn.now().Sub(g.DeleteTime) > model.NATGatewayVisibleFor
}

// natGatewayOfENI returns the gateway whose interface eniID is, or nil.
func (tn *tenant) natGatewayOfENI(eniID string) *model.NATGateway {
	if eniID == "" {
		return nil
	}
	for _, g := range tn.natGateways {
		if g.ENIID == eniID {
			return g
		}
	}
	return nil
}

// natGatewayForRoute checks that a NAT gateway can be a route target in a VPC (CreateRoute's
// and ReplaceRoute's NatGatewayId): it exists, is not deleted or failed, and is in the VPC.
// It is for the route tables' code in this package, which holds the tenant's lock.
func (tn *tenant) natGatewayForRoute(id, vpcID string) (*model.NATGateway, error) {
	g, err := tn.natGateway(id)
	if err != nil {
		return nil, err
	}
	if g.Gone() {
		return nil, model.NatGatewayNotFound.New(id)
	}
	if g.VpcID != vpcID {
		// [UNCONFIRMED] wording.
		return nil, model.InvalidParameter.Errorf("Nat gateway %s and route table are in different VPCs (%s, %s).", id, g.VpcID, vpcID)
	}
	return g, nil
}

// NATGateways returns every NAT gateway still visible, sorted by ID.
func (v View) NATGateways() []*model.NATGateway {
	all := sorted(v.tn.natGateways, func(x *model.NATGateway) string { return x.ID })
	out := all[:0]
	for _, g := range all {
		if !v.tn.natExpired(g) {
			out = append(out, g)
		}
	}
	return out
}

// NATGateway returns a gateway or EC2's errors.
func (v View) NATGateway(id string) (*model.NATGateway, error) { return v.tn.natGateway(id) }

// natPurgeAt returns when a gone gateway's record may be deleted, or zero.
func natPurgeAt(g *model.NATGateway) time.Time {
	if !g.Gone() || g.DeleteTime.IsZero() {
		return time.Time{}
	}
	return g.DeleteTime.Add(model.NATGatewayVisibleFor)
}

// NATGatewayForRoute is natGatewayForRoute for readers outside the package's writes.
func (v View) NATGatewayForRoute(id, vpcID string) (*model.NATGateway, error) {
	return v.tn.natGatewayForRoute(id, vpcID)
}
