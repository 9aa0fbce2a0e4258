package control

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/stockade/stockade/model"
)

// Route tables (EC2 user guide, "Route tables for your VPC"). Every VPC has one main table,
// born with the VPC and holding its local routes; a subnet uses the table it is explicitly
// associated with, else the main one. Whether a route is active or a blackhole is derived
// from its target on every read (RouteState), never stored, so that deleting an interface
// or detaching a gateway turns the routes to it into blackholes without touching the tables.

// newRouteTable builds a table of vpc with its local routes: the VPC's IPv4 CIDR and, if it
// has one, its IPv6 CIDR, then its secondary IPv4 blocks (vpccidr.go).
func newRouteTable(vpc *model.VPC) *model.RouteTable {
	rt := &model.RouteTable{ID: model.NewID(model.PrefixRouteTable), VpcID: vpc.ID, OwnerID: vpc.OwnerID}
	ps := []netip.Prefix{vpc.CIDR, vpc.IPv6CIDR}
	for _, b := range append(slices.Clone(vpc.Secondary), vpc.IPv6Secondary...) {
		ps = append(ps, b.CIDR)
	}
	for _, p := range ps {
		if p.IsValid() {
			rt.Routes = append(rt.Routes, model.Route{Dest: p, Target: model.RouteTarget{Local: true}, Origin: model.OriginCreateRouteTable})
		}
	}
	return rt
}

// addMainRouteTable gives vpc its main route table; a default VPC also gets an internet
// gateway, attached, and a default route to it, as on AWS.
func (tx *tx) addMainRouteTable(vpc *model.VPC) {
	rt := newRouteTable(vpc)
	rt.Assocs = []model.RouteTableAssoc{{ID: model.NewID(model.PrefixRTBAssoc), Main: true}}
	if vpc.IsDefault {
		igw := &model.InternetGateway{ID: model.NewID(model.PrefixIGW), OwnerID: vpc.OwnerID, VpcID: vpc.ID}
		set(tx, tx.tn.igws, kindIGW, igw.ID, igw)
		rt.Routes = append(rt.Routes, model.Route{Dest: allIPv4, Target: model.RouteTarget{GatewayID: igw.ID}, Origin: model.OriginCreateRouteTable})
	}
	set(tx, tx.tn.routeTables, kindRouteTable, rt.ID, rt)
}

// mainRouteTables gives every VPC loaded from a store written before route tables existed
// its main table, in memory only: as with a new tenant's default VPC, a read must not create
// durable state. The tables are committed with the tenant's next write (saveLazy), so their
// IDs are stable from the first read on; a restart before any write forgets them, and nothing
// durable referred to them.
func (s *Service) mainRouteTables(tn *tenant) {
	has := map[string]bool{}
	for _, rt := range tn.routeTables {
		if rt.IsMain() {
			has[rt.VpcID] = true
		}
	}
	tx := s.begin(tn)
	for _, id := range slices.Sorted(maps.Keys(tn.vpcs)) {
		if !has[id] {
			tx.addMainRouteTable(tn.vpcs[id])
		}
	}
	for _, k := range tx.keys {
		_, kind, id, _ := parseKey(k)
		tn.lazy = append(tn.lazy, lazyRecord{kind, id})
	}
}

// lazyRecord names a record that exists in memory but not yet in the store.
type lazyRecord struct{ kind, id string }

// saveLazy stages, in a write of an initialised tenant, the records that only memory holds
// (mainRouteTables) and that the write did not stage itself.
func (tx *tx) saveLazy() {
	tn := tx.tn
	if len(tn.lazy) == 0 {
		return
	}
	for _, r := range tn.lazy {
		if _, ok := tx.ops[storeKey(tn.key, r.kind, r.id)]; ok {
			continue
		}
		switch r.kind {
		case kindRouteTable:
			if v := tn.routeTables[r.id]; v != nil {
				tx.stage(r.kind, r.id, v)
			}
		case kindIGW:
			if v := tn.igws[r.id]; v != nil {
				tx.stage(r.kind, r.id, v)
			}
		case kindVPC: // dhcp.go's dhcpSets
			if v := tn.vpcs[r.id]; v != nil {
				tx.stage(r.kind, r.id, v)
			}
		case kindDhcp:
			if v := tn.dhcpOptions[r.id]; v != nil {
				tx.stage(r.kind, r.id, v)
			}
		}
	}
	lazy := tn.lazy
	tn.lazy = nil
	tx.undo = append(tx.undo, func() { tn.lazy = lazy })
}

// CreateRouteTableInput are CreateRouteTable's parameters.
type CreateRouteTableInput struct {
	VpcID       string
	Tags        model.Tags
	ClientToken string
	DryRun      bool
}

// CreateRouteTable creates a custom route table with the VPC's local routes.
func (s *Service) CreateRouteTable(ctx context.Context, t Tenant, in CreateRouteTableInput) (*model.RouteTable, Result, error) {
	if in.VpcID == "" {
		return nil, Result{}, model.Missing("VpcId")
	}
	var rt *model.RouteTable
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		fp := fingerprint("CreateRouteTable", in.withoutToken())
		if ids, done, err := tx.replay("CreateRouteTable", in.ClientToken, fp); err != nil || done {
			if err == nil {
				rt, err = tx.tn.routeTable(ids[0])
			}
			return err
		}
		vpc, err := tx.tn.vpc(in.VpcID)
		if err != nil {
			return err
		}
		count := 0
		for _, o := range tx.tn.routeTables {
			if o.VpcID == vpc.ID {
				count++
			}
		}
		if count >= s.cfg.Quotas.RouteTablesPerVPC {
			return model.RouteTableLimitExceeded.New()
		}
		rt = newRouteTable(vpc)
		rt.Tags = in.Tags
		set(tx, tx.tn.routeTables, kindRouteTable, rt.ID, rt)
		tx.remember("CreateRouteTable", in.ClientToken, fp, rt.ID)
		return nil
	})
	return rt, res, err
}

func (in CreateRouteTableInput) withoutToken() CreateRouteTableInput {
	in.ClientToken, in.DryRun = "", false
	return in
}

// DeleteRouteTable deletes a custom table that nothing is associated with; the main table
// goes only with its VPC.
func (s *Service) DeleteRouteTable(ctx context.Context, t Tenant, in IDInput) (Result, error) {
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		rt, err := tx.tn.routeTable(in.ID)
		if err != nil {
			return err
		}
		if len(rt.Assocs) > 0 {
			return model.DependencyViolation.Errorf("The routeTable '%s' has dependencies and cannot be deleted.", in.ID)
		}
		set[model.RouteTable](tx, tx.tn.routeTables, kindRouteTable, in.ID, nil)
		return nil
	})
}

// RouteInput are the parameters of CreateRoute, ReplaceRoute and DeleteRoute (which takes
// only the table and the destination).
type RouteInput struct {
	RouteTableID string
	// The destination: exactly one.
	DestCIDR, DestIPv6CIDR, DestPrefixList string
	// The target: exactly one of these, of LocalTarget (ReplaceRoute) and of Unsupported.
	GatewayID, EgressOnlyIGWID, NatGatewayID, NetworkInterfaceID, InstanceID string
	LocalTarget                                                              bool
	// Unsupported names the target parameters given whose kind Stockade does not have
	// (TransitGatewayId, VpcPeeringConnectionId, …).
	Unsupported []string
	DryRun      bool
}

// destination validates the route's destination.
func (in RouteInput) destination() (netip.Prefix, string, error) {
	n := 0
	for _, s := range []string{in.DestCIDR, in.DestIPv6CIDR, in.DestPrefixList} {
		if s != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return netip.Prefix{}, "", model.Missing("DestinationCidrBlock")
	case n > 1:
		// [UNCONFIRMED] the code and wording of two destinations in one call.
		return netip.Prefix{}, "", model.InvalidParameterCombination.Errorf("The request must contain exactly one of DestinationCidrBlock, DestinationIpv6CidrBlock and DestinationPrefixListId.")
	case in.DestCIDR != "":
		p, err := model.ParseCIDR(in.DestCIDR, false, "DestinationCidrBlock")
		return p, "", err
	case in.DestIPv6CIDR != "":
		p, err := model.ParseCIDR(in.DestIPv6CIDR, true, "DestinationIpv6CidrBlock")
		return p, "", err
	}
	if !model.ValidID(model.PrefixPrefixList, in.DestPrefixList) {
		return netip.Prefix{}, "", model.InvalidPrefixListIDMalformed.New(in.DestPrefixList)
	}
	return netip.Prefix{}, in.DestPrefixList, nil
}

// destString is how EC2 names a route's destination in messages.
func destString(dest netip.Prefix, pl string) string {
	if pl != "" {
		return pl
	}
	return dest.String()
}

// target validates the target against the table's VPC and returns it.
func (tx *tx) routeTarget(in RouteInput, rt *model.RouteTable, dest netip.Prefix, pl string) (model.RouteTarget, error) {
	var t model.RouteTarget
	given := []bool{in.GatewayID != "", in.EgressOnlyIGWID != "", in.NatGatewayID != "", in.NetworkInterfaceID != "", in.InstanceID != "", in.LocalTarget}
	n := len(in.Unsupported)
	for _, g := range given {
		if g {
			n++
		}
	}
	switch {
	case n == 0:
		// [UNCONFIRMED] the code of a route without a target.
		return t, model.MissingParameter.Errorf("The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId, egressOnlyInternetGatewayId, transitGatewayId, localGatewayId, carrierGatewayId, coreNetworkArn or instanceId")
	case n > 1:
		return t, model.InvalidParameterCombination.Errorf("The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId, egressOnlyInternetGatewayId, transitGatewayId, localGatewayId, carrierGatewayId, coreNetworkArn or instanceId")
	case len(in.Unsupported) > 0:
		return t, model.InvalidValue("Value for parameter %s is invalid: Stockade has no resources of this kind.", in.Unsupported[0])
	}
	tn := tx.tn
	differ := func(id string) error {
		return model.InvalidValue("route table %s and network gateway %s belong to different networks", rt.ID, id)
	}
	switch {
	case in.LocalTarget:
		t.Local = true
	case in.GatewayID == "local":
		t.Local = true
	case strings.HasPrefix(in.GatewayID, model.PrefixEgressIGW+"-"):
		return tx.routeTarget(RouteInput{EgressOnlyIGWID: in.GatewayID}, rt, dest, pl)
	case in.GatewayID != "":
		if !model.ValidID(model.PrefixIGW, in.GatewayID) {
			// A virtual private gateway or anything else Stockade does not have.
			return t, model.InvalidGatewayIDNotFound.New(in.GatewayID)
		}
		g, err := tn.igw(in.GatewayID)
		if err != nil {
			return t, err
		}
		if g.VpcID != rt.VpcID {
			return t, differ(g.ID)
		}
		t.GatewayID = g.ID
	case in.EgressOnlyIGWID != "":
		g, err := tn.eigw(in.EgressOnlyIGWID)
		if err != nil {
			return t, err
		}
		if g.VpcID != rt.VpcID {
			return t, differ(g.ID)
		}
		if pl == "" && !dest.Addr().Is6() {
			// [UNCONFIRMED] wording; an egress-only gateway carries IPv6 only.
			return t, model.InvalidValue("Route target %s is an egress-only internet gateway, which only supports IPv6 destinations.", g.ID)
		}
		t.EgressOnlyIGWID = g.ID
	case in.NatGatewayID != "":
		if !model.ValidID(model.PrefixNATGateway, in.NatGatewayID) {
			return t, model.InvalidNatGatewayIDNotFound.New(in.NatGatewayID)
		}
		vpc, found, _ := tn.natRouteTarget(in.NatGatewayID)
		if !found {
			return t, model.InvalidNatGatewayIDNotFound.New(in.NatGatewayID)
		}
		if vpc != rt.VpcID {
			return t, differ(in.NatGatewayID)
		}
		t.NatGatewayID = in.NatGatewayID
	case in.NetworkInterfaceID != "":
		n, err := tn.eni(in.NetworkInterfaceID)
		if err != nil {
			return t, err
		}
		if n.VpcID != rt.VpcID {
			return t, model.InvalidValue("Route table %s and interface %s belong to different networks", rt.ID, n.ID)
		}
		t.NetworkInterfaceID = n.ID
	case in.InstanceID != "":
		inst, err := tn.instance(in.InstanceID)
		if err != nil {
			return t, err
		}
		if inst.State == model.StateTerminated || len(inst.InterfaceIDs) == 0 {
			return t, model.IncorrectInstanceState.Errorf("The instance '%s' is not in a state from which it can be a route target.", inst.ID)
		}
		if inst.VpcID != rt.VpcID {
			return t, model.InvalidValue("Route table %s and instance %s belong to different networks", rt.ID, inst.ID)
		}
		t.InstanceID, t.NetworkInterfaceID = inst.ID, inst.InterfaceIDs[0]
	}
	return t, nil
}

// CreateRoute adds a route to a destination the table has no route to.
func (s *Service) CreateRoute(ctx context.Context, t Tenant, in RouteInput) (Result, error) {
	return s.changeRoute(ctx, t, in, false)
}

// ReplaceRoute changes the target of an existing route.
func (s *Service) ReplaceRoute(ctx context.Context, t Tenant, in RouteInput) (Result, error) {
	return s.changeRoute(ctx, t, in, true)
}

func (s *Service) changeRoute(ctx context.Context, t Tenant, in RouteInput, replace bool) (Result, error) {
	if in.RouteTableID == "" {
		return Result{}, model.Missing("RouteTableId")
	}
	dest, pl, err := in.destination()
	if err != nil {
		return Result{}, err
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		rt, err := tx.tn.routeTable(in.RouteTableID)
		if err != nil {
			return err
		}
		if pl != "" {
			if _, err := tx.tn.prefixList(pl); err != nil {
				return err
			}
		}
		target, err := tx.routeTarget(in, rt, dest, pl)
		if err != nil {
			return err
		}
		i := rt.FindRoute(dest, pl)
		c := rt.Clone()
		switch {
		case replace && i < 0:
			return model.InvalidRouteNotFound.Errorf("There is no route defined for '%s' in the route table. Please correct the destination and try again.", destString(dest, pl))
		case replace && rt.Routes[i].Target.Local:
			if target.Local {
				return nil // already local: nothing to change
			}
			return model.InvalidValue("cannot replace local route %s in route table %s", destString(dest, pl), rt.ID)
		case replace && target.Local:
			// LocalTarget restores a local route's target; it cannot make another route local.
			return model.InvalidValue("cannot replace route %s in route table %s with a local target: it is not a local route", destString(dest, pl), rt.ID)
		case replace:
			c.Routes[i].Target = target
			c.Routes[i].Origin = model.OriginCreateRoute
		case i >= 0:
			return model.RouteAlreadyExists.New(destString(dest, pl))
		case target.Local:
			return model.InvalidValue("cannot create a local route; local routes come from the VPC's CIDR blocks")
		default:
			c.Routes = append(c.Routes, model.Route{Dest: dest, DestPrefixList: pl, Target: target, Origin: model.OriginCreateRoute})
			if countRoutes(c, dest.Addr().Is6()) > s.cfg.Quotas.RoutesPerTable {
				return model.RouteLimitExceeded.New()
			}
		}
		set(tx, tx.tn.routeTables, kindRouteTable, c.ID, c)
		return nil
	})
}

// countRoutes counts a table's routes of one address family, local ones aside: AWS's quota
// of routes per table is on non-propagated routes, enforced apart for IPv4 and IPv6 (Amazon
// VPC quotas, "Route tables"). A prefix-list route counts as IPv4 [UNCONFIRMED: AWS counts
// a prefix list by its maximum entries].
func countRoutes(rt *model.RouteTable, v6 bool) int {
	n := 0
	for _, r := range rt.Routes {
		if !r.Target.Local && (r.DestPrefixList == "" && r.Dest.Addr().Is6()) == v6 {
			n++
		}
	}
	return n
}

// DeleteRoute removes a route; the local routes cannot be removed.
func (s *Service) DeleteRoute(ctx context.Context, t Tenant, in RouteInput) (Result, error) {
	if in.RouteTableID == "" {
		return Result{}, model.Missing("RouteTableId")
	}
	dest, pl, err := in.destination()
	if err != nil {
		return Result{}, err
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		rt, err := tx.tn.routeTable(in.RouteTableID)
		if err != nil {
			return err
		}
		i := rt.FindRoute(dest, pl)
		if i < 0 {
			field := "destination-cidr-block"
			switch {
			case pl != "":
				field = "destination-prefix-list-id"
			case dest.Addr().Is6():
				field = "destination-ipv6-cidr-block"
			}
			return model.InvalidRouteNotFound.Errorf("no route with %s %s in route table %s", field, destString(dest, pl), rt.ID)
		}
		if rt.Routes[i].Target.Local {
			return model.InvalidValue("cannot remove local route %s in route table %s", destString(dest, pl), rt.ID)
		}
		c := rt.Clone()
		c.Routes = slices.Delete(c.Routes, i, i+1)
		set(tx, tx.tn.routeTables, kindRouteTable, c.ID, c)
		return nil
	})
}

// AssociateRouteTableInput are AssociateRouteTable's parameters: a subnet or a gateway (an
// edge association).
type AssociateRouteTableInput struct {
	RouteTableID, SubnetID, GatewayID string
	DryRun                            bool
}

// AssociateRouteTable associates a subnet or an internet gateway with a table and returns
// the association's ID.
func (s *Service) AssociateRouteTable(ctx context.Context, t Tenant, in AssociateRouteTableInput) (string, Result, error) {
	if in.RouteTableID == "" {
		return "", Result{}, model.Missing("RouteTableId")
	}
	switch {
	case in.SubnetID == "" && in.GatewayID == "":
		return "", Result{}, model.MissingParameter.Errorf("The request must contain exactly one of SubnetId and GatewayId")
	case in.SubnetID != "" && in.GatewayID != "":
		return "", Result{}, model.InvalidParameterCombination.Errorf("The request must contain exactly one of SubnetId and GatewayId")
	}
	var id string
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		tn := tx.tn
		rt, err := tn.routeTable(in.RouteTableID)
		if err != nil {
			return err
		}
		a := model.RouteTableAssoc{ID: model.NewID(model.PrefixRTBAssoc)}
		if in.SubnetID != "" {
			sn, err := tn.subnet(in.SubnetID)
			if err != nil {
				return err
			}
			if sn.VpcID != rt.VpcID {
				return model.InvalidValue("route table %s and subnet %s belong to different networks", rt.ID, sn.ID)
			}
			if o, _ := tn.assocOf(func(a model.RouteTableAssoc) bool { return a.SubnetID == sn.ID }); o != nil {
				return model.ResourceAlreadyAssociated.Errorf("the specified association for route table %s conflicts with an existing association", rt.ID)
			}
			a.SubnetID = sn.ID
		} else {
			g, err := tn.igw(in.GatewayID)
			if err != nil {
				return err
			}
			if g.VpcID != rt.VpcID {
				return model.InvalidValue("route table %s and network gateway %s belong to different networks", rt.ID, g.ID)
			}
			if o, _ := tn.assocOf(func(a model.RouteTableAssoc) bool { return a.GatewayID == g.ID }); o != nil {
				return model.ResourceAlreadyAssociated.Errorf("the specified association for route table %s conflicts with an existing association", rt.ID)
			}
			a.GatewayID = g.ID
		}
		c := rt.Clone()
		c.Assocs = append(c.Assocs, a)
		set(tx, tn.routeTables, kindRouteTable, c.ID, c)
		id = a.ID
		return nil
	})
	return id, res, err
}

// assocOf finds the association that satisfies p and its table.
func (tn *tenant) assocOf(p func(model.RouteTableAssoc) bool) (*model.RouteTable, int) {
	for _, rt := range tn.routeTables {
		if i := slices.IndexFunc(rt.Assocs, p); i >= 0 {
			return rt, i
		}
	}
	return nil, -1
}

// DisassociateRouteTable removes a subnet's or gateway's association; the subnet falls back
// to the main table. The main association can only be moved (ReplaceRouteTableAssociation).
func (s *Service) DisassociateRouteTable(ctx context.Context, t Tenant, in IDInput) (Result, error) {
	if in.ID == "" {
		return Result{}, model.Missing("AssociationId")
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		rt, i := tx.tn.assocOf(func(a model.RouteTableAssoc) bool { return a.ID == in.ID })
		if rt == nil {
			return model.InvalidAssociationIDNotFound.New(in.ID)
		}
		if rt.Assocs[i].Main {
			return model.InvalidValue("cannot disassociate the main route table association %s", in.ID)
		}
		c := rt.Clone()
		c.Assocs = slices.Delete(c.Assocs, i, i+1)
		set(tx, tx.tn.routeTables, kindRouteTable, c.ID, c)
		return nil
	})
}

// ReplaceRouteTableAssociationInput are ReplaceRouteTableAssociation's parameters.
type ReplaceRouteTableAssociationInput struct {
	AssociationID, RouteTableID string
	DryRun                      bool
}

// ReplaceRouteTableAssociation moves an association (a subnet's, a gateway's or the VPC's
// main one) to another table of the VPC and returns the new association ID.
func (s *Service) ReplaceRouteTableAssociation(ctx context.Context, t Tenant, in ReplaceRouteTableAssociationInput) (string, Result, error) {
	if in.AssociationID == "" {
		return "", Result{}, model.Missing("AssociationId")
	}
	if in.RouteTableID == "" {
		return "", Result{}, model.Missing("RouteTableId")
	}
	var id string
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		tn := tx.tn
		from, i := tn.assocOf(func(a model.RouteTableAssoc) bool { return a.ID == in.AssociationID })
		if from == nil {
			return model.InvalidAssociationIDNotFound.New(in.AssociationID)
		}
		to, err := tn.routeTable(in.RouteTableID)
		if err != nil {
			return err
		}
		if to.VpcID != from.VpcID {
			return model.InvalidValue("route table %s and association %s belong to different networks", to.ID, in.AssociationID)
		}
		a := from.Assocs[i]
		f := from.Clone()
		f.Assocs = slices.Delete(f.Assocs, i, i+1)
		set(tx, tn.routeTables, kindRouteTable, f.ID, f)
		a.ID = model.NewID(model.PrefixRTBAssoc)
		dst := tn.routeTables[to.ID].Clone() // re-read: it may be the table just changed
		dst.Assocs = append(dst.Assocs, a)
		set(tx, tn.routeTables, kindRouteTable, dst.ID, dst)
		id = a.ID
		return nil
	})
	return id, res, err
}

// dropRouteAssoc removes a deleted subnet's explicit association, if it has one.
func (tx *tx) dropRouteAssoc(subnetID string) {
	if rt, i := tx.tn.assocOf(func(a model.RouteTableAssoc) bool { return a.SubnetID == subnetID }); rt != nil {
		c := rt.Clone()
		c.Assocs = slices.Delete(c.Assocs, i, i+1)
		set(tx, tx.tn.routeTables, kindRouteTable, c.ID, c)
	}
}

// routeTable returns a table by ID or EC2's malformed and not-found errors.
func (tn *tenant) routeTable(id string) (*model.RouteTable, error) {
	return find(tn.routeTables, id, model.PrefixRouteTable, model.InvalidRouteTableIDMalformed, model.InvalidRouteTableIDNotFound)
}

// mainRouteTable returns a VPC's main table (nil only while a VPC is being deleted).
func (tn *tenant) mainRouteTable(vpcID string) *model.RouteTable {
	for _, rt := range tn.routeTables {
		if rt.VpcID == vpcID && rt.IsMain() {
			return rt
		}
	}
	return nil
}

// subnetRouteTable is the table a subnet uses: its explicit association's, else the main one.
func (tn *tenant) subnetRouteTable(sn *model.Subnet) *model.RouteTable {
	if rt, _ := tn.assocOf(func(a model.RouteTableAssoc) bool { return a.SubnetID == sn.ID }); rt != nil {
		return rt
	}
	return tn.mainRouteTable(sn.VpcID)
}

// routeState is active while the route's target exists (an internet gateway: while it is
// attached to the table's VPC; a NAT gateway: while it is available) and blackhole after.
func (tn *tenant) routeState(rt *model.RouteTable, r model.Route) string {
	t := r.Target
	ok := false
	switch {
	case t.Local:
		ok = true
	case t.GatewayID != "":
		g := tn.igws[t.GatewayID]
		ok = g != nil && g.VpcID == rt.VpcID
	case t.EgressOnlyIGWID != "":
		ok = tn.eigws[t.EgressOnlyIGWID] != nil
	case t.NatGatewayID != "":
		_, _, ok = tn.natRouteTarget(t.NatGatewayID)
	case t.NetworkInterfaceID != "":
		n := tn.enis[t.NetworkInterfaceID]
		ok = n != nil
		if t.InstanceID != "" {
			// A route to an instance follows the instance: gone, stopped or terminated, it is a
			// blackhole even while the interface lingers (a stopped NAT instance forwards
			// nothing), and active again once the instance starts.
			inst := tn.instances[t.InstanceID]
			ok = ok && inst != nil && model.Forwards(inst.State)
		}
	}
	if ok {
		return model.RouteActive
	}
	return model.RouteBlackhole
}
