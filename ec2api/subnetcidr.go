package ec2api

import (
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

// A subnet's IPv6 block (Associate/DisassociateSubnetCidrBlock), CreateDefaultSubnet and
// subnet CIDR reservations (Create/Delete/GetSubnetCidrReservations).

func associateSubnetCidrBlock(c *call) error {
	r := c.req
	for _, p := range []string{"Ipv6IpamPoolId", "Ipv6NetmaskLength"} {
		if _, ok := r.String(p); ok {
			return model.InvalidValue("Stockade does not support %s: IPAM pools do not exist here.", p)
		}
	}
	a, res, err := c.svc().AssociateSubnetCIDR(c.ctx, c.tenant, str(r, "SubnetId"), str(r, "Ipv6CidrBlock"))
	if err != nil {
		return err
	}
	c.written(res)
	writeSubnetCIDRAssociation(&c.out, a, "associating")
	return nil
}

func disassociateSubnetCidrBlock(c *call) error {
	a, res, err := c.svc().DisassociateSubnetCIDR(c.ctx, c.tenant, str(c.req, "AssociationId"))
	if err != nil {
		return err
	}
	c.written(res)
	writeSubnetCIDRAssociation(&c.out, a, "disassociating")
	return nil
}

func writeSubnetCIDRAssociation(x *xmlWriter, a control.SubnetCIDRAssociation, state string) {
	x.str("subnetId", a.SubnetID)
	x.elem("ipv6CidrBlockAssociation", func() { writeBlockAssoc(x, a.CIDR, a.AssocID, state) })
}

func createDefaultSubnet(c *call) error {
	r := c.req
	native, _, err := optBool(r, "Ipv6Native")
	if err != nil {
		return err
	}
	sn, res, err := c.svc().CreateDefaultSubnet(c.ctx, c.tenant, control.CreateDefaultSubnetInput{
		Zone: str(r, "AvailabilityZone"), ZoneID: str(r, "AvailabilityZoneId"), IPv6Native: native, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	// The AWS CLI's example shows a new default subnet "available" at once.
	c.written(res).elem("subnet", func() { c.writeSubnet(sn, max(sn.Size()-model.ReservedAddresses, 0), "available") })
	return nil
}

func createSubnetCidrReservation(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "subnet-cidr-reservation")
	if err != nil {
		return err
	}
	res, rev, err := c.svc().CreateSubnetCIDRReservation(c.ctx, c.tenant, control.CreateReservationInput{SubnetID: str(r, "SubnetId"),
		CIDR: str(r, "Cidr"), Type: str(r, "ReservationType"), Description: str(r, "Description"), Tags: tags, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	c.written(rev).elem("subnetCidrReservation", func() { writeReservation(&c.out, res) })
	return nil
}

func deleteSubnetCidrReservation(c *call) error {
	res, rev, err := c.svc().DeleteSubnetCIDRReservation(c.ctx, c.tenant, control.IDInput{ID: str(c.req, "SubnetCidrReservationId"), DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	c.written(rev).elem("deletedSubnetCidrReservation", func() { writeReservation(&c.out, res) })
	return nil
}

var reservationFilters = filterer[*model.SubnetCIDRReservation]{
	fields: fields[*model.SubnetCIDRReservation]{
		"reservationType": one2(func(r *model.SubnetCIDRReservation) string { return r.Type }),
		"subnet-id":       one2(func(r *model.SubnetCIDRReservation) string { return r.SubnetID }),
		"owner-id":        one2(func(r *model.SubnetCIDRReservation) string { return r.OwnerID }),
	},
	tagsOf: func(r *model.SubnetCIDRReservation) model.Tags { return r.Tags },
}

// getSubnetCidrReservations lists a subnet's reservations in two sets, IPv4 and IPv6, with
// the filters and pagination of a Describe.
func getSubnetCidrReservations(c *call) error {
	r := c.req
	id := str(r, "SubnetId")
	if id == "" {
		return model.Missing("SubnetId")
	}
	fs, err := reservationFilters.compile(r)
	if err != nil {
		return err
	}
	var rows []*model.SubnetCIDRReservation
	err = c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		all, err := v.SubnetCIDRReservations(id)
		for _, x := range all {
			if reservationFilters.match(fs, x) {
				rows = append(rows, x)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if c.dryRun() {
		return model.DryRunOperation.New()
	}
	page, next, err := paginate(r, rows, func(x *model.SubnetCIDRReservation) string { return x.ID }, describeLimits)
	if err != nil {
		return err
	}
	x := &c.out
	for _, set := range []struct {
		name string
		v6   bool
	}{{"subnetIpv4CidrReservationSet", false}, {"subnetIpv6CidrReservationSet", true}} {
		x.open(set.name)
		for _, res := range page {
			if res.CIDR.Addr().Is6() == set.v6 {
				x.elem("item", func() { writeReservation(x, res) })
			}
		}
		x.close(set.name)
	}
	x.opt("nextToken", next)
	return nil
}

func writeReservation(x *xmlWriter, r *model.SubnetCIDRReservation) {
	x.str("subnetCidrReservationId", r.ID)
	x.str("subnetId", r.SubnetID)
	x.str("cidr", r.CIDR.String())
	x.str("reservationType", r.Type)
	x.str("ownerId", r.OwnerID)
	x.opt("description", r.Description)
	writeTags(x, r.Tags)
}
