package ec2api

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

// The Network Insights (Reachability Analyzer) subset: paths, and analyses that complete before
// StartNetworkInsightsAnalysis returns.

func createNetworkInsightsPath(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "network-insights-path")
	if err != nil {
		return err
	}
	port, hasPort, err := optInt(r, "DestinationPort")
	if err != nil {
		return err
	}
	for _, k := range []string{"FilterAtSource.SourceAddress", "FilterAtSource.DestinationAddress", "FilterAtDestination.SourceAddress",
		"FilterAtDestination.DestinationAddress", "FilterAtSource.DestinationPortRange.FromPort", "FilterAtSource.SourcePortRange.FromPort",
		"FilterAtDestination.DestinationPortRange.FromPort", "FilterAtDestination.SourcePortRange.FromPort"} {
		if str(r, k) != "" {
			return model.InvalidParameterValue.Errorf("%s is not supported by Stockade: give SourceIp, DestinationIp and DestinationPort instead.", k)
		}
	}
	p, res, err := c.svc().CreateInsightsPath(c.ctx, c.tenant, control.CreateInsightsPathInput{
		Source: str(r, "Source"), Destination: str(r, "Destination"), SourceIP: str(r, "SourceIp"), DestinationIP: str(r, "DestinationIp"),
		Protocol: str(r, "Protocol"), DestinationPort: port, HasPort: hasPort, Tags: tags, ClientToken: str(r, "ClientToken"), DryRun: c.dryRun(),
	})
	if err != nil {
		return err
	}
	c.written(res).elem("networkInsightsPath", func() { c.writePath(p) })
	return nil
}

func (c *call) writePath(p *model.InsightsPath) {
	x := &c.out
	x.str("networkInsightsPathId", p.ID)
	x.str("networkInsightsPathArn", c.arn("network-insights-path/"+p.ID))
	x.time("createdDate", p.Created)
	x.str("source", p.Source)
	x.opt("destination", p.Destination)
	x.opt("sourceArn", c.endArn(p.Source))
	x.opt("destinationArn", c.endArn(p.Destination))
	if p.SourceIP.IsValid() {
		x.str("sourceIp", p.SourceIP.String())
	}
	if p.DestinationIP.IsValid() {
		x.str("destinationIp", p.DestinationIP.String())
	}
	x.str("protocol", p.Protocol)
	if p.HasPort {
		x.int("destinationPort", int64(p.DestinationPort))
	}
	writeTags(x, p.Tags)
}

// endArn is the ARN of a path's end.
func (c *call) endArn(id string) string {
	switch model.IDPrefix(id) {
	case model.PrefixENI:
		return c.arn("network-interface/" + id)
	case model.PrefixInstance:
		return c.arn("instance/" + id)
	}
	return ""
}

func deleteNetworkInsightsPath(c *call) error {
	id := str(c.req, "NetworkInsightsPathId")
	res, err := c.svc().DeleteInsightsPath(c.ctx, c.tenant, control.IDInput{ID: id, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.str("networkInsightsPathId", id)
	return nil
}

var pathFilters = filterer[*model.InsightsPath]{
	fields: fields[*model.InsightsPath]{
		"destination":      one2(func(p *model.InsightsPath) string { return p.Destination }),
		"destination-ip":   one2(func(p *model.InsightsPath) string { return addrString(p.DestinationIP) }),
		"destination-port": func(p *model.InsightsPath) []string { return portValues(p) },
		"protocol":         one2(func(p *model.InsightsPath) string { return p.Protocol }),
		"source":           one2(func(p *model.InsightsPath) string { return p.Source }),
		"source-ip":        one2(func(p *model.InsightsPath) string { return addrString(p.SourceIP) }),
	},
	tagsOf: func(p *model.InsightsPath) model.Tags { return p.Tags },
}

func portValues(p *model.InsightsPath) []string {
	if !p.HasPort {
		return nil
	}
	return one(strconv.Itoa(int(p.DestinationPort)))
}

var describeNetworkInsightsPaths = describeSpec[*model.InsightsPath]{
	IDs:     []string{"NetworkInsightsPathId"},
	From:    func(_ *call, v control.View) source[*model.InsightsPath] { return src(v.InsightsPaths, v.InsightsPath) },
	Filters: pathFilters,
	Key:     func(p *model.InsightsPath) string { return p.ID },
	Set:     "networkInsightsPathSet",
	Item:    (*call).writePath,
}

func startNetworkInsightsAnalysis(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "network-insights-analysis")
	if err != nil {
		return err
	}
	for _, k := range []string{"AdditionalAccount", "FilterInArn", "FilterOutArn"} {
		if len(r.Strings(k)) > 0 {
			return model.InvalidParameterValue.Errorf("%s is not supported by Stockade: an analysis covers one account, every component of it.", k)
		}
	}
	a, res, err := c.svc().StartInsightsAnalysis(c.ctx, c.tenant, control.StartInsightsAnalysisInput{PathID: str(r, "NetworkInsightsPathId"), Tags: tags, ClientToken: str(r, "ClientToken"), DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	c.written(res).elem("networkInsightsAnalysis", func() { c.writeAnalysis(a) })
	return nil
}

func deleteNetworkInsightsAnalysis(c *call) error {
	id := str(c.req, "NetworkInsightsAnalysisId")
	res, err := c.svc().DeleteInsightsAnalysis(c.ctx, c.tenant, control.IDInput{ID: id, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.str("networkInsightsAnalysisId", id)
	return nil
}

var analysisFilters = filterer[*model.InsightsAnalysis]{
	fields: fields[*model.InsightsAnalysis]{
		"path-found": one2(func(a *model.InsightsAnalysis) string { return boolStr(a.PathFound) }),
		"status":     one2(func(a *model.InsightsAnalysis) string { return a.Status }),
	},
	tagsOf: func(a *model.InsightsAnalysis) model.Tags { return a.Tags },
}

var describeNetworkInsightsAnalyses = describeSpec[*model.InsightsAnalysis]{
	IDs:  []string{"NetworkInsightsAnalysisId"},
	Keep: analysisWindow,
	From: func(c *call, v control.View) source[*model.InsightsAnalysis] {
		if id := str(c.req, "NetworkInsightsPathId"); id != "" {
			if _, err := v.InsightsPath(id); err != nil {
				return source[*model.InsightsAnalysis]{err: err}
			}
		}
		return src(v.InsightsAnalyses, v.InsightsAnalysis)
	},
	Filters: analysisFilters,
	Key:     func(a *model.InsightsAnalysis) string { return a.ID },
	Set:     "networkInsightsAnalysisSet",
	Item:    (*call).writeAnalysis,
}

// analysisWindow keeps the analyses of NetworkInsightsPathId, started between
// AnalysisStartTime and AnalysisEndTime, when given.
func analysisWindow(r *query.Request) (func(*model.InsightsAnalysis) bool, error) {
	var from, to time.Time
	for _, t := range []struct {
		key string
		dst *time.Time
	}{{"AnalysisStartTime", &from}, {"AnalysisEndTime", &to}} {
		if v := str(r, t.key); v != "" {
			var err error
			if *t.dst, err = time.Parse(time.RFC3339, v); err != nil {
				return nil, model.InvalidValue("Value (%s) for parameter %s is invalid. Expected an ISO 8601 timestamp.", v, t.key)
			}
		}
	}
	pathID := str(r, "NetworkInsightsPathId")
	return func(a *model.InsightsAnalysis) bool {
		return (pathID == "" || a.PathID == pathID) && (from.IsZero() || !a.Started.Before(from)) && (to.IsZero() || !a.Started.After(to))
	}, nil
}

func (c *call) writeAnalysis(a *model.InsightsAnalysis) {
	x := &c.out
	x.str("networkInsightsAnalysisId", a.ID)
	x.str("networkInsightsAnalysisArn", c.arn("network-insights-analysis/"+a.ID))
	x.str("networkInsightsPathId", a.PathID)
	x.time("startDate", a.Started)
	x.str("status", a.Status)
	x.opt("statusMessage", a.StatusMessage)
	if a.Status == "succeeded" {
		x.bool("networkPathFound", a.PathFound)
	}
	c.writeHops("forwardPathComponentSet", a.Forward)
	c.writeHops("returnPathComponentSet", a.Return)
	if len(a.Explanations) > 0 {
		x.open("explanationSet")
		for _, e := range a.Explanations {
			x.open("item")
			x.str("explanationCode", e.Code)
			x.opt("direction", e.Direction)
			if e.NetworkInterface != "" {
				c.component("networkInterface", e.NetworkInterface, "network-interface/")
				c.component("component", e.NetworkInterface, "network-interface/")
			}
			if len(e.SecurityGroups) > 0 {
				x.open("securityGroupSet")
				for _, g := range e.SecurityGroups {
					c.component("item", g, "security-group/")
				}
				x.close("securityGroupSet")
			}
			if e.ACL != "" {
				c.component("acl", e.ACL, "network-acl/")
				c.component("component", e.ACL, "network-acl/")
			}
			c.writeACLRule(e.ACLRule)
			if e.InternetGateway != "" {
				c.component("internetGateway", e.InternetGateway, "internet-gateway/")
			}
			if e.RouteTable != "" {
				c.component("routeTable", e.RouteTable, "route-table/")
			}
			c.writeRoute(e.Route)
			if e.Subnet != "" {
				c.component("subnet", e.Subnet, "subnet/")
			}
			if e.VPC != "" {
				c.component("vpc", e.VPC, "vpc/")
			}
			x.close("item")
		}
		x.close("explanationSet")
	}
	writeTags(x, a.Tags)
}

func (c *call) writeHops(name string, hops []model.InsightsHop) {
	if len(hops) == 0 {
		return
	}
	x := &c.out
	x.open(name)
	for i, h := range hops {
		x.open("item")
		x.int("sequenceNumber", int64(i+1))
		c.component("component", h.Component, componentKind(h.Component))
		c.writeACLRule(h.ACLRule)
		c.writeRoute(h.Route)
		if r := h.SGRule; r != nil {
			x.open("securityGroupRule")
			x.opt("cidr", r.CIDR)
			x.str("direction", r.Direction)
			x.str("securityGroupId", r.GroupID)
			x.opt("prefixListId", r.PrefixListID)
			x.str("protocol", r.Protocol)
			if r.HasPorts {
				writePortRange(x, r.FromPort, r.ToPort)
			}
			x.close("securityGroupRule")
		}
		if h.Subnet != "" {
			c.component("subnet", h.Subnet, "subnet/")
		}
		if h.VPC != "" {
			c.component("vpc", h.VPC, "vpc/")
		}
		x.close("item")
	}
	x.close(name)
}

// componentKind is the ARN resource type of a path component's ID.
func componentKind(id string) string {
	switch model.IDPrefix(id) {
	case model.PrefixNACL:
		return "network-acl/"
	case model.PrefixIGW:
		return "internet-gateway/"
	case model.PrefixRouteTable:
		return "route-table/"
	case model.PrefixNATGateway:
		return "natgateway/"
	}
	return "network-interface/"
}

// writeRoute writes an AnalysisRouteTableRoute: the destination and the target under the
// member EC2 names for its kind.
func (c *call) writeRoute(r *model.InsightsRoute) {
	if r == nil {
		return
	}
	x := &c.out
	x.open("routeTableRoute")
	if strings.HasPrefix(r.Destination, "pl-") {
		x.str("destinationPrefixListId", r.Destination)
	} else {
		x.str("destinationCidr", r.Destination)
	}
	switch model.IDPrefix(r.Target) {
	case model.PrefixNATGateway:
		x.str("natGatewayId", r.Target)
	case model.PrefixENI:
		x.str("networkInterfaceId", r.Target)
	case model.PrefixInstance:
		x.str("instanceId", r.Target)
	case model.PrefixEgressIGW:
		x.str("egressOnlyInternetGatewayId", r.Target)
	default: // local, igw-…
		x.str("gatewayId", r.Target)
	}
	x.opt("state", r.State)
	x.close("routeTableRoute")
}

func (c *call) writeACLRule(r *model.InsightsACLRule) {
	if r == nil {
		return
	}
	x := &c.out
	x.open("aclRule")
	x.str("cidr", r.CIDR)
	x.bool("egress", r.Egress)
	if r.HasPorts {
		writePortRange(x, r.FromPort, r.ToPort)
	}
	x.str("protocol", r.Protocol)
	x.str("ruleAction", r.Action)
	x.int("ruleNumber", int64(r.Number))
	x.close("aclRule")
}

func writePortRange(x *xmlWriter, from, to int32) {
	x.open("portRange")
	x.int("from", int64(from))
	x.int("to", int64(to))
	x.close("portRange")
}

// component writes an AnalysisComponent: the resource's ID and ARN.
func (c *call) component(name, id, kind string) {
	c.out.open(name)
	c.out.str("id", id)
	c.out.str("arn", c.arn(kind+id))
	c.out.close(name)
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
