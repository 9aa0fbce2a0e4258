package control

import "github.com/stockade/stockade/model"

// RouteTables returns every route table, sorted by ID.
func (v View) RouteTables() []*model.RouteTable {
	return sorted(v.tn.routeTables, func(x *model.RouteTable) string { return x.ID })
}

// RouteTable returns a route table or EC2's not-found error.
func (v View) RouteTable(id string) (*model.RouteTable, error) { return v.tn.routeTable(id) }

// RouteState is a route's state: active, or blackhole once its target is gone.
func (v View) RouteState(rt *model.RouteTable, r model.Route) string { return v.tn.routeState(rt, r) }

// SubnetRouteTable is the table a subnet uses: its explicit association's, else its VPC's
// main table.
func (v View) SubnetRouteTable(sn *model.Subnet) *model.RouteTable { return v.tn.subnetRouteTable(sn) }

// InternetGateways returns every internet gateway, sorted by ID.
func (v View) InternetGateways() []*model.InternetGateway {
	return sorted(v.tn.igws, func(x *model.InternetGateway) string { return x.ID })
}

// InternetGateway returns an internet gateway or EC2's not-found error.
func (v View) InternetGateway(id string) (*model.InternetGateway, error) { return v.tn.igw(id) }

// EgressOnlyIGWs returns every egress-only internet gateway, sorted by ID.
func (v View) EgressOnlyIGWs() []*model.EgressOnlyIGW {
	return sorted(v.tn.eigws, func(x *model.EgressOnlyIGW) string { return x.ID })
}

// EgressOnlyIGW returns an egress-only internet gateway or EC2's not-found error.
func (v View) EgressOnlyIGW(id string) (*model.EgressOnlyIGW, error) { return v.tn.eigw(id) }
