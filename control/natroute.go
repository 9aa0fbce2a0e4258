package control

// natGateway is the hook through which routes reach NAT gateways, which are built apart
// (issue 12, addresses and NAT gateways): it reports the VPC of the tenant's NAT gateway id,
// whether the tenant has it (found: a route to it may be created, even while it is pending)
// and whether it carries traffic (active: available; a deleting or deleted gateway makes
// its routes blackholes). Until NAT gateways exist no tenant has one, so a route to one is
// refused with InvalidNatGatewayID.NotFound. Replace this body when they come: CreateRoute,
// ReplaceRoute and routeState all go through it.
func (tn *tenant) natGateway(id string) (vpcID string, found, active bool) {
	_ = id
	return "", false, false
}
