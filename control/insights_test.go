package control

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

// TestInsightsPathInternetGateway: an internet gateway may be a path's end, checked to exist,
// with an interface or instance at the other end; the analysis crosses the route table and
// the gateway, and both survive a restart.
func TestInsightsPathInternetGateway(t *testing.T) {
	e := newENITestService(t, nil)
	inst, eni := e.launchIn(e.defaultSubnet().ID, nil) // default VPC: gateway, route, public address
	var igw string
	e.view(func(v View) {
		for _, g := range v.InternetGateways() {
			if g.VpcID == eni.VpcID {
				igw = g.ID
			}
		}
	})
	if igw == "" {
		t.Fatal("the default VPC has no internet gateway")
	}
	for _, tt := range []struct {
		name, code string
		in         CreateInsightsPathInput
	}{
		{"unknown gateway", "InvalidInternetGatewayID.NotFound", CreateInsightsPathInput{Source: "igw-0123456789abcdef0", Destination: eni.ID, Protocol: "tcp"}},
		{"malformed gateway", "InvalidInternetGatewayId.Malformed", CreateInsightsPathInput{Source: inst.ID, Destination: "igw-xyz", Protocol: "tcp"}},
		{"gateway to gateway", "InvalidParameterValue", CreateInsightsPathInput{Source: igw, Destination: igw, Protocol: "tcp"}},
		{"gateway to an address only", "InvalidParameterValue", CreateInsightsPathInput{Source: igw, DestinationIP: "10.0.1.4", Protocol: "tcp"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.s.Revision()
			_, _, err := e.s.CreateInsightsPath(e.ctx, eniTenant, tt.in)
			eniCheckErr(t, err, tt.code, "")
			if e.s.Revision() != before {
				t.Errorf("a refused create changed the revision")
			}
		})
	}
	out := eniOK[*model.InsightsPath](t)(e.s.CreateInsightsPath(e.ctx, eniTenant, CreateInsightsPathInput{Source: inst.ID, Destination: igw, Protocol: "tcp", DestinationPort: 443, HasPort: true}))
	in := eniOK[*model.InsightsPath](t)(e.s.CreateInsightsPath(e.ctx, eniTenant, CreateInsightsPathInput{Source: igw, Destination: eni.ID, Protocol: "tcp", DestinationPort: 22, HasPort: true}))
	a := eniOK[*model.InsightsAnalysis](t)(e.s.StartInsightsAnalysis(e.ctx, eniTenant, StartInsightsAnalysisInput{PathID: out.ID}))
	b := eniOK[*model.InsightsAnalysis](t)(e.s.StartInsightsAnalysis(e.ctx, eniTenant, StartInsightsAnalysisInput{PathID: in.ID}))
	components := func(hs []model.InsightsHop) []string {
		var ids []string
		for _, h := range hs {
			ids = append(ids, model.IDPrefix(h.Component))
		}
		return ids
	}
	// Out: the interface's group lets it out, the default ACL, the main table's 0.0.0.0/0 to
	// the gateway (the default subnet has no explicit association).
	if d := cmp.Diff([]string{"eni", "acl", "rtb", "igw"}, components(a.Forward)); d != "" || a.Status != "succeeded" || !a.PathFound {
		t.Errorf("out to the gateway: %s %v, forward (-want +got):\n%s", a.Status, a.PathFound, d)
	}
	if h := a.Forward[2]; h.Route == nil || *h.Route != (model.InsightsRoute{Destination: "0.0.0.0/0", Target: igw, State: "active"}) {
		t.Errorf("route hop %+v", h.Route)
	}
	// In: the default group admits only its members.
	if b.PathFound || len(b.Explanations) != 1 || b.Explanations[0].Code != "ENI_SG_RULES_MISMATCH" || components(b.Forward)[0] != "igw" {
		t.Errorf("in from the gateway: %+v", b)
	}
	e.reopen()
	got := lookup(e, func(v View) (*model.InsightsAnalysis, error) { return v.InsightsAnalysis(a.ID) })
	if d := cmp.Diff(a, got); d != "" {
		t.Errorf("analysis after a restart (-before +after):\n%s", d)
	}
	if p := lookup(e, func(v View) (*model.InsightsPath, error) { return v.InsightsPath(in.ID) }); p.Source != igw {
		t.Errorf("path after a restart: %+v", p)
	}
}
