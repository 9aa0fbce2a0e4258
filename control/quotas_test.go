package control

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

// TestQuotaNames: every quota is settable by name, and the names Set accepts are the ones
// Names lists (the --quota flag's help).
func TestQuotaNames(t *testing.T) {
	var q Quotas
	names := q.Names()
	fields := q.fields()
	if len(names) != len(fields) {
		t.Errorf("Names lists %d quotas, Set accepts %d", len(names), len(fields))
	}
	for _, n := range names {
		q := DefaultQuotas()
		if err := q.Set(n + "=7"); err != nil {
			t.Errorf("Set(%s=7): %v", n, err)
		} else if *q.fields()[n] != 7 {
			t.Errorf("Set(%s=7) left %d", n, *q.fields()[n])
		}
	}
	for _, n := range []string{"flow-logs-per-resource", "network-insights-paths", "analyses-per-path"} {
		if !slices.Contains(names, n) {
			t.Errorf("quota %q missing from Names", n)
		}
	}
}

// TestFlowLogsPerResourceQuota: a resource at the quota gets FlowLogsLimitExceeded in the
// failures while the request's other resources get their flow log.
func TestFlowLogsPerResourceQuota(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.FlowLogsPerResource = 1 })
	create := func(ids []string, group string) CreateFlowLogsOutput {
		t.Helper()
		out, _, err := e.s.CreateFlowLogs(e.ctx, eniTenant, CreateFlowLogsInput{ResourceIDs: ids, ResourceType: "VPC",
			TrafficType: "ALL", LogGroupName: group, PermissionArn: "arn:aws:iam::123456789012:role/fl"})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	create([]string{e.vpc.ID}, "first")
	out := create([]string{e.vpc.ID, e.otherVPC.ID}, "second")
	want := []FlowLogFailure{{e.vpc.ID, "FlowLogsLimitExceeded", "The maximum number of flow logs for this resource has been reached."}}
	if diff := cmp.Diff(want, out.Failed); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if len(out.IDs) != 1 {
		t.Errorf("created %v, want one flow log (on %s)", out.IDs, e.otherVPC.ID)
	}
	e.view(func(v View) {
		if n := len(v.FlowLogs()); n != 2 {
			t.Errorf("%d flow logs, want 2", n)
		}
	})
}

// TestInsightsPathQuota: a tenant at the quota of Network Insights paths gets
// ResourceLimitExceeded and nothing is stored; deleting one makes room.
func TestInsightsPathQuota(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.InsightsPaths = 2 })
	in := e.pathInput()
	p1 := eniOK[*model.InsightsPath](t)(e.s.CreateInsightsPath(e.ctx, eniTenant, in))
	eniOK[*model.InsightsPath](t)(e.s.CreateInsightsPath(e.ctx, eniTenant, in))
	before := e.storedIDs(kindPath)
	_, _, err := e.s.CreateInsightsPath(e.ctx, eniTenant, in)
	if eniCode(err) != "ResourceLimitExceeded" {
		t.Fatalf("third path: %v, want ResourceLimitExceeded", err)
	}
	if diff := cmp.Diff(before, e.storedIDs(kindPath)); diff != "" {
		t.Errorf("stored paths changed by a refused create (-want +got):\n%s", diff)
	}
	if _, err := e.s.DeleteInsightsPath(e.ctx, eniTenant, IDInput{ID: p1.ID}); err != nil {
		t.Fatal(err)
	}
	eniOK[*model.InsightsPath](t)(e.s.CreateInsightsPath(e.ctx, eniTenant, in))
}

// TestAnalysesPerPathBound: starting an analysis of a path that has AnalysesPerPath of them
// deletes the oldest in the same transaction, in memory and in the store; other paths'
// analyses are untouched.
func TestAnalysesPerPathBound(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.AnalysesPerPath = 2 })
	in := e.pathInput()
	p := eniOK[*model.InsightsPath](t)(e.s.CreateInsightsPath(e.ctx, eniTenant, in))
	q := eniOK[*model.InsightsPath](t)(e.s.CreateInsightsPath(e.ctx, eniTenant, in))
	start := func(path string) string {
		t.Helper()
		e.clock.Advance(time.Minute)
		return eniOK[*model.InsightsAnalysis](t)(e.s.StartInsightsAnalysis(e.ctx, eniTenant, StartInsightsAnalysisInput{PathID: path})).ID
	}
	other := start(q.ID)
	a1, a2 := start(p.ID), start(p.ID)
	a3 := start(p.ID)
	want := sortedIDs(other, a2, a3)
	if diff := cmp.Diff(want, e.storedIDs(kindAnalysis)); diff != "" {
		t.Errorf("stored analyses (-want +got):\n%s", diff)
	}
	e.view(func(v View) {
		if diff := cmp.Diff(want, idsOfAnalyses(v.InsightsAnalyses())); diff != "" {
			t.Errorf("analyses in memory (-want +got):\n%s", diff)
		}
	})
	e.view(func(v View) {
		if _, err := v.InsightsAnalysis(a1); eniCode(err) != "InvalidNetworkInsightsAnalysisId.NotFound" {
			t.Errorf("oldest analysis still there: %v", err)
		}
	})
}

func idsOfAnalyses(as []*model.InsightsAnalysis) []string {
	return mapIDs(as, func(a *model.InsightsAnalysis) string { return a.ID })
}

// pathInput creates two interfaces and returns a path between them.
func (e *eniEnv) pathInput() CreateInsightsPathInput {
	e.t.Helper()
	a := eniOK[*model.NetworkInterface](e.t)(e.s.CreateENI(e.ctx, eniTenant, CreateENIInput{SubnetID: e.sn.ID}))
	b := eniOK[*model.NetworkInterface](e.t)(e.s.CreateENI(e.ctx, eniTenant, CreateENIInput{SubnetID: e.sn.ID}))
	return CreateInsightsPathInput{Source: a.ID, Destination: b.ID, Protocol: "tcp"}
}
