package control

import (
	"context"
	"net/netip"

	"github.com/stockade/stockade/model"
)

// Subnet CIDR reservations (CreateSubnetCidrReservation, DeleteSubnetCidrReservation,
// GetSubnetCidrReservations): a range of a subnet's IPv4 or IPv6 block that automatic address
// assignment leaves alone; an address in it is given only to an interface that asks for it
// ("Subnet CIDR reservations", VPC User Guide). Reservations go with their subnet.

// CreateReservationInput are CreateSubnetCidrReservation's parameters.
type CreateReservationInput struct {
	SubnetID, CIDR, Type, Description string
	Tags                              model.Tags
	DryRun                            bool
}

// CreateSubnetCIDRReservation reserves a range inside one of a subnet's blocks that overlaps
// no other reservation of the subnet.
func (s *Service) CreateSubnetCIDRReservation(ctx context.Context, t Tenant, in CreateReservationInput) (*model.SubnetCIDRReservation, Result, error) {
	switch {
	case in.SubnetID == "":
		return nil, Result{}, model.Missing("SubnetId")
	case in.CIDR == "":
		return nil, Result{}, model.Missing("Cidr")
	case in.Type == "":
		return nil, Result{}, model.Missing("ReservationType")
	case in.Type != "explicit" && in.Type != "prefix":
		return nil, Result{}, model.InvalidValue("Value (%s) for parameter reservationType is invalid. Valid values: prefix, explicit", in.Type)
	}
	p, err := netip.ParsePrefix(in.CIDR)
	if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
		return nil, Result{}, model.InvalidValue("Value (%s) for parameter cidr is invalid. This is not a valid CIDR block.", in.CIDR)
	}
	p = p.Masked()
	var r *model.SubnetCIDRReservation
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		sn, err := tx.tn.subnet(in.SubnetID)
		if err != nil {
			return err
		}
		block := sn.CIDR
		if p.Addr().Is6() {
			block = sn.IPv6CIDR
		}
		if !block.IsValid() || block.Bits() > p.Bits() || !block.Contains(p.Addr()) {
			// [UNCONFIRMED] code and wording.
			return model.InvalidValue("The CIDR %s is not within the CIDR ranges of subnet %s.", in.CIDR, sn.ID)
		}
		for _, o := range tx.tn.reservations {
			if o.SubnetID == sn.ID && o.CIDR.Overlaps(p) {
				// [UNCONFIRMED] code and wording.
				return model.InvalidValue("The CIDR %s overlaps with existing reservation %s.", in.CIDR, o.ID)
			}
		}
		r = &model.SubnetCIDRReservation{ID: model.NewID(model.PrefixSubnetCidrReservation), SubnetID: sn.ID, OwnerID: sn.OwnerID,
			CIDR: p, Type: in.Type, Description: in.Description, Tags: in.Tags}
		set(tx, tx.tn.reservations, kindReservation, r.ID, r)
		return nil
	})
	return r, res, err
}

// DeleteSubnetCIDRReservation deletes a reservation and returns it as it was.
func (s *Service) DeleteSubnetCIDRReservation(ctx context.Context, t Tenant, in IDInput) (*model.SubnetCIDRReservation, Result, error) {
	if in.ID == "" {
		return nil, Result{}, model.Missing("SubnetCidrReservationId")
	}
	var r *model.SubnetCIDRReservation
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		var err error
		if r, err = tx.tn.reservation(in.ID); err != nil {
			return err
		}
		set[model.SubnetCIDRReservation](tx, tx.tn.reservations, kindReservation, in.ID, nil)
		return nil
	})
	return r, res, err
}

// reservation returns a reservation by ID or EC2's not-found error; one whose subnet is gone
// (left for purge: dropReservations) is not found.
func (tn *tenant) reservation(id string) (*model.SubnetCIDRReservation, error) {
	r, err := find(tn.reservations, id, "", nil, model.InvalidSubnetCidrReservationIDNotFound)
	if err == nil && tn.subnets[r.SubnetID] == nil {
		return nil, model.InvalidSubnetCidrReservationIDNotFound.New(id)
	}
	return r, err
}

// reserved reports whether a is in one of the subnet's reservations, which automatic
// assignment skips.
func (tn *tenant) reserved(subnetID string, a netip.Addr) bool {
	for _, r := range tn.reservations {
		if r.SubnetID == subnetID && r.CIDR.Contains(a) {
			return true
		}
	}
	return false
}

// dropReservations deletes a subnet's reservations with it: at most maxPurge, so that the
// deletion fits a transaction of etcd (128 operations); the tenant's next writes delete the
// others, which no read finds without their subnet (retention.go, purgeStrays).
func (tx *tx) dropReservations(subnetID string) {
	n := 0
	for _, r := range sorted(tx.tn.reservations, func(x *model.SubnetCIDRReservation) string { return x.ID }) {
		if r.SubnetID != subnetID {
			continue
		}
		if n == maxPurge {
			tx.leaveStrays()
			return
		}
		set[model.SubnetCIDRReservation](tx, tx.tn.reservations, kindReservation, r.ID, nil)
		n++
	}
}

// SubnetCIDRReservations returns a subnet's reservations, sorted by ID, or the subnet's
// not-found error.
func (v View) SubnetCIDRReservations(subnetID string) ([]*model.SubnetCIDRReservation, error) {
	if _, err := v.tn.subnet(subnetID); err != nil {
		return nil, err
	}
	var out []*model.SubnetCIDRReservation
	for _, r := range sorted(v.tn.reservations, func(x *model.SubnetCIDRReservation) string { return x.ID }) {
		if r.SubnetID == subnetID {
			out = append(out, r)
		}
	}
	return out, nil
}
