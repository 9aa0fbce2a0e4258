package control

import (
	"context"

	"github.com/stockade/stockade/model"
)

// Internet gateways (EC2 user guide, "Enable internet access for a VPC using an internet
// gateway"): a region-wide resource attached to at most one VPC, a VPC having at most one.
// Routes to a gateway that is detached or deleted stay, as blackholes (routeState).

// CreateInternetGatewayInput are CreateInternetGateway's parameters.
type CreateInternetGatewayInput struct {
	Tags   model.Tags
	DryRun bool
}

// CreateInternetGateway creates a detached internet gateway.
func (s *Service) CreateInternetGateway(ctx context.Context, t Tenant, in CreateInternetGatewayInput) (*model.InternetGateway, Result, error) {
	var g *model.InternetGateway
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		if len(tx.tn.igws) >= s.cfg.Quotas.InternetGateways {
			return model.InternetGatewayLimitExceeded.New()
		}
		g = &model.InternetGateway{ID: model.NewID(model.PrefixIGW), OwnerID: tx.tn.key.Account, Tags: in.Tags}
		set(tx, tx.tn.igws, kindIGW, g.ID, g)
		return nil
	})
	return g, res, err
}

// IGWInput are the parameters of Attach/DetachInternetGateway.
type IGWInput struct {
	GatewayID, VpcID string
	DryRun           bool
}

func (in IGWInput) check() error {
	if in.GatewayID == "" {
		return model.Missing("InternetGatewayId")
	}
	if in.VpcID == "" {
		return model.Missing("VpcId")
	}
	return nil
}

// AttachInternetGateway attaches a detached gateway to a VPC that has none.
func (s *Service) AttachInternetGateway(ctx context.Context, t Tenant, in IGWInput) (Result, error) {
	if err := in.check(); err != nil {
		return Result{}, err
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		g, err := tx.tn.igw(in.GatewayID)
		if err != nil {
			return err
		}
		vpc, err := tx.tn.vpc(in.VpcID)
		if err != nil {
			return err
		}
		if g.VpcID != "" {
			return model.ResourceAlreadyAssociated.Errorf("resource %s is already attached to network %s", g.ID, g.VpcID)
		}
		if o := tx.tn.vpcIGW(vpc.ID); o != nil {
			// [UNCONFIRMED] wording of a VPC that already has a gateway.
			return model.ResourceAlreadyAssociated.Errorf("resource %s is already attached to network %s", o.ID, vpc.ID)
		}
		c := g.Clone()
		c.VpcID = vpc.ID
		set(tx, tx.tn.igws, kindIGW, c.ID, c)
		return nil
	})
}

// DetachInternetGateway detaches a gateway from its VPC. Routes to it become blackholes; an
// edge association with it must be removed first.
func (s *Service) DetachInternetGateway(ctx context.Context, t Tenant, in IGWInput) (Result, error) {
	if err := in.check(); err != nil {
		return Result{}, err
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		g, err := tx.tn.igw(in.GatewayID)
		if err != nil {
			return err
		}
		if _, err := tx.tn.vpc(in.VpcID); err != nil {
			return err
		}
		if g.VpcID != in.VpcID {
			return model.GatewayNotAttached.Errorf("resource %s is not attached to network %s", g.ID, in.VpcID)
		}
		if rt, _ := tx.tn.assocOf(func(a model.RouteTableAssoc) bool { return a.GatewayID == g.ID }); rt != nil {
			// [UNCONFIRMED] AWS's answer to detaching an edge-associated gateway.
			return model.DependencyViolation.Errorf("The internetGateway '%s' has dependencies and cannot be detached: it is associated with route table %s.", g.ID, rt.ID)
		}
		if tx.tn.mappedPublic(in.VpcID) {
			return model.DependencyViolation.Errorf("Network %s has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.", in.VpcID)
		}
		c := g.Clone()
		c.VpcID = ""
		set(tx, tx.tn.igws, kindIGW, c.ID, c)
		return nil
	})
}

// DeleteInternetGateway deletes a detached gateway.
func (s *Service) DeleteInternetGateway(ctx context.Context, t Tenant, in IDInput) (Result, error) {
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		g, err := tx.tn.igw(in.ID)
		if err != nil {
			return err
		}
		if g.VpcID != "" {
			return model.DependencyViolation.Errorf("The internetGateway '%s' has dependencies and cannot be deleted.", g.ID)
		}
		set[model.InternetGateway](tx, tx.tn.igws, kindIGW, g.ID, nil)
		return nil
	})
}

// igw returns a gateway by ID or EC2's malformed and not-found errors.
func (tn *tenant) igw(id string) (*model.InternetGateway, error) {
	return find(tn.igws, id, model.PrefixIGW, model.InvalidInternetGatewayIDMalformed, model.InvalidInternetGatewayIDNotFound)
}

// vpcIGW is the gateway attached to a VPC, or nil.
func (tn *tenant) vpcIGW(vpcID string) *model.InternetGateway {
	for _, g := range tn.igws {
		if g.VpcID == vpcID {
			return g
		}
	}
	return nil
}

// CreateEgressOnlyIGWInput are CreateEgressOnlyInternetGateway's parameters.
type CreateEgressOnlyIGWInput struct {
	VpcID       string
	Tags        model.Tags
	ClientToken string
	DryRun      bool
}

// CreateEgressOnlyIGW creates an egress-only internet gateway in a VPC.
func (s *Service) CreateEgressOnlyIGW(ctx context.Context, t Tenant, in CreateEgressOnlyIGWInput) (*model.EgressOnlyIGW, Result, error) {
	if in.VpcID == "" {
		return nil, Result{}, model.Missing("VpcId")
	}
	var g *model.EgressOnlyIGW
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		fp := fingerprint("CreateEgressOnlyInternetGateway", []any{in.VpcID, in.Tags})
		if ids, done, err := tx.replay("CreateEgressOnlyInternetGateway", in.ClientToken, fp); err != nil || done {
			if err == nil {
				g, err = tx.tn.eigw(ids[0])
			}
			return err
		}
		vpc, err := tx.tn.vpc(in.VpcID)
		if err != nil {
			return err
		}
		if len(tx.tn.eigws) >= s.cfg.Quotas.EgressOnlyIGWs {
			return model.EgressOnlyIGWLimitExceeded.New()
		}
		g = &model.EgressOnlyIGW{ID: model.NewID(model.PrefixEgressIGW), VpcID: vpc.ID, Tags: in.Tags}
		set(tx, tx.tn.eigws, kindEIGW, g.ID, g)
		tx.remember("CreateEgressOnlyInternetGateway", in.ClientToken, fp, g.ID)
		return nil
	})
	return g, res, err
}

// DeleteEgressOnlyIGW deletes an egress-only gateway; routes to it become blackholes.
func (s *Service) DeleteEgressOnlyIGW(ctx context.Context, t Tenant, in IDInput) (Result, error) {
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		if _, err := tx.tn.eigw(in.ID); err != nil {
			return err
		}
		set[model.EgressOnlyIGW](tx, tx.tn.eigws, kindEIGW, in.ID, nil)
		return nil
	})
}

// eigw returns an egress-only gateway by ID or EC2's malformed and not-found errors.
func (tn *tenant) eigw(id string) (*model.EgressOnlyIGW, error) {
	return find(tn.eigws, id, model.PrefixEgressIGW, model.InvalidEgressOnlyIGWIDMalformed, model.InvalidEgressOnlyIGWIDNotFound)
}
