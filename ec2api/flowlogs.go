package ec2api

import (
	"strconv"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

func createFlowLogs(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "vpc-flow-log")
	if err != nil {
		return err
	}
	resources, err := ids(r, "ResourceId")
	if err != nil {
		return err
	}
	interval, hasInterval, err := optInt(r, "MaxAggregationInterval")
	if err != nil {
		return err
	}
	token := str(r, "ClientToken")
	out, res, err := c.svc().CreateFlowLogs(c.ctx, c.tenant, control.CreateFlowLogsInput{
		ResourceIDs: resources, ResourceType: str(r, "ResourceType"), TrafficType: str(r, "TrafficType"),
		DestType: str(r, "LogDestinationType"), Destination: str(r, "LogDestination"), LogGroupName: str(r, "LogGroupName"),
		PermissionArn: str(r, "DeliverLogsPermissionArn"), Format: str(r, "LogFormat"), Interval: int(interval), HasInterval: hasInterval,
		Tags: tags, ClientToken: token, DryRun: c.dryRun(),
	})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.opt("clientToken", token)
	x.open("flowLogIdSet")
	for _, id := range out.IDs {
		x.str("item", id)
	}
	x.close("flowLogIdSet")
	writeFailures(x, out.Failed)
	return nil
}

func writeFailures(x *xmlWriter, failed []control.FlowLogFailure) {
	if len(failed) == 0 {
		x.empty("unsuccessful")
		return
	}
	x.open("unsuccessful")
	for _, f := range failed {
		x.open("item")
		x.open("error")
		x.str("code", f.Code)
		x.str("message", f.Message)
		x.close("error")
		x.str("resourceId", f.ResourceID)
		x.close("item")
	}
	x.close("unsuccessful")
}

func deleteFlowLogs(c *call) error {
	want, err := ids(c.req, "FlowLogId")
	if err != nil {
		return err
	}
	failed, res, err := c.svc().DeleteFlowLogs(c.ctx, c.tenant, control.DeleteFlowLogsInput{IDs: want, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	writeFailures(x, failed)
	return nil
}

var flowLogFilters = filterer[*model.FlowLog]{
	fields: fields[*model.FlowLog]{
		"deliver-log-status":   func(*model.FlowLog) []string { return one("SUCCESS") },
		"log-destination-type": one2(func(f *model.FlowLog) string { return f.DestType }),
		"flow-log-id":          one2(func(f *model.FlowLog) string { return f.ID }),
		"log-group-name":       one2(func(f *model.FlowLog) string { return f.LogGroupName }),
		"resource-id":          one2(func(f *model.FlowLog) string { return f.ResourceID }),
		"traffic-type":         one2(func(f *model.FlowLog) string { return f.TrafficType }),
	},
	tagsOf: func(f *model.FlowLog) model.Tags { return f.Tags },
}

var describeFlowLogs = describeSpec[*model.FlowLog]{
	IDs:     []string{"FlowLogId"},
	From:    func(_ *call, v control.View) source[*model.FlowLog] { return src(v.FlowLogs, v.FlowLog) },
	Filters: flowLogFilters,
	Key:     func(f *model.FlowLog) string { return f.ID },
	Set:     "flowLogSet",
	Item:    func(c *call, f *model.FlowLog) { writeFlowLog(&c.out, f) },
}

func writeFlowLog(x *xmlWriter, f *model.FlowLog) {
	x.time("creationTime", f.Created)
	x.opt("deliverLogsPermissionArn", f.PermissionArn)
	x.str("deliverLogsStatus", "SUCCESS")
	x.str("flowLogId", f.ID)
	x.str("flowLogStatus", "ACTIVE")
	x.opt("logGroupName", f.LogGroupName)
	x.str("resourceId", f.ResourceID)
	x.str("trafficType", f.TrafficType)
	x.str("logDestinationType", f.DestType)
	x.str("logDestination", f.Destination)
	x.str("logFormat", f.Format)
	x.str("maxAggregationInterval", strconv.Itoa(f.Interval))
	writeTags(x, f.Tags)
}
