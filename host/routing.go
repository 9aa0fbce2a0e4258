package host

import (
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// PlanRouting is VPC vpc's routing as a host plans it from network n (route tables numbered
// by netlab.TableNumber, as for callers without a host). It is pure, and exported so that
// the data plane's kernel differential test programs its routers from the model through the
// very conversion the host uses, rather than a second one that could agree with the policy
// engine where the host does not.
func PlanRouting(n netmap.Network, vpc string, names netlab.Names) Routing {
	idx := routingIndex{vpcs: map[string]*model.VPC{}, enis: map[string]*model.NetworkInterface{},
		subnets: map[string]*model.Subnet{}, instances: map[string]*model.Instance{}}
	for _, x := range n.VPCs {
		idx.vpcs[x.ID] = x
	}
	for _, x := range n.ENIs {
		idx.enis[x.ID] = x
	}
	for _, x := range n.Subnets {
		idx.subnets[x.ID] = x
	}
	for _, x := range n.Instances {
		idx.instances[x.ID] = x
	}
	return planRouting(n, idx, vpc, names, nil, Placement{})
}
