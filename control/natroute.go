package control

import "github.com/stockade/stockade/model"

// natRouteTarget is how routes see NAT gateways: the VPC of the tenant's gateway id, whether a
// route to it may be created (it exists and is neither deleted nor failed; a pending one
// may be a target) and whether it carries traffic (available; otherwise its routes are
// blackholes). CreateRoute, ReplaceRoute and routeState all go through it.
func (tn *tenant) natRouteTarget(id string) (vpcID string, found, active bool) {
	g := tn.natGateways[id]
	if g == nil || g.Gone() {
		return "", false, false
	}
	return g.VpcID, true, g.State == model.NATAvailable
}
