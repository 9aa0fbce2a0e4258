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
	hive, _, err := optBool(r, "DestinationOptions.HiveCompatiblePartitions")
	if err != nil {
		return err
	}
	hourly, _, err := optBool(r, "DestinationOptions.PerHourPartition")
	if err != nil {
		return err
	}
	token := str(r, "ClientToken")
	out, res, err := c.svc().CreateFlowLogs(c.ctx, c.tenant, control.CreateFlowLogsInput{
		ResourceIDs: resources, ResourceType: str(r, "ResourceType"), TrafficType: str(r, "TrafficType"),
		DestType: str(r, "LogDestinationType"), Destination: str(r, "LogDestination"), LogGroupName: str(r, "LogGroupName"),
		PermissionArn: str(r, "DeliverLogsPermissionArn"), Format: str(r, "LogFormat"), Interval: int(interval), HasInterval: hasInterval,
		FileFormat: str(r, "DestinationOptions.FileFormat"), HivePartitions: hive, PerHour: hourly,
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

// flowLogRow is a flow log with its delivery status, which the writer keeps, not the store.
type flowLogRow struct {
	f                         *model.FlowLog
	deliveryStatus, errorText string
}

func flowLogRowOf(c *call) func(f *model.FlowLog) flowLogRow {
	return func(f *model.FlowLog) flowLogRow {
		if c.s.cfg.FlowLogDelivery == nil {
			return flowLogRow{f, "SUCCESS", ""}
		}
		st, msg := c.s.cfg.FlowLogDelivery(f.ID)
		return flowLogRow{f, st, msg}
	}
}

var flowLogFilters = filterer[flowLogRow]{
	fields: fields[flowLogRow]{
		"deliver-log-status":   one2(func(r flowLogRow) string { return r.deliveryStatus }),
		"log-destination-type": one2(func(r flowLogRow) string { return r.f.DestType }),
		"flow-log-id":          one2(func(r flowLogRow) string { return r.f.ID }),
		"log-group-name":       one2(func(r flowLogRow) string { return r.f.LogGroupName }),
		"resource-id":          one2(func(r flowLogRow) string { return r.f.ResourceID }),
		"traffic-type":         one2(func(r flowLogRow) string { return r.f.TrafficType }),
	},
	tagsOf: func(r flowLogRow) model.Tags { return r.f.Tags },
}

var describeFlowLogs = describeSpec[flowLogRow]{
	IDs: []string{"FlowLogId"},
	From: func(c *call, v control.View) source[flowLogRow] {
		return rowsOf(v.FlowLogs, flowLogRowOf(c), v.FlowLog)
	},
	Filters: flowLogFilters,
	Key:     func(r flowLogRow) string { return r.f.ID },
	Set:     "flowLogSet",
	Item:    func(c *call, r flowLogRow) { writeFlowLog(&c.out, r) },
}

func writeFlowLog(x *xmlWriter, r flowLogRow) {
	f := r.f
	x.time("creationTime", f.Created)
	x.opt("deliverLogsErrorMessage", r.errorText)
	x.opt("deliverLogsPermissionArn", f.PermissionArn)
	x.str("deliverLogsStatus", r.deliveryStatus)
	x.str("flowLogId", f.ID)
	x.str("flowLogStatus", "ACTIVE")
	x.opt("logGroupName", f.LogGroupName)
	x.str("resourceId", f.ResourceID)
	x.str("trafficType", f.TrafficType)
	x.str("logDestinationType", f.DestType)
	x.str("logDestination", f.Destination)
	if f.DestType == "s3" {
		x.open("destinationOptions")
		x.str("fileFormat", "plain-text")
		x.bool("hiveCompatiblePartitions", f.HivePartitions)
		x.bool("perHourPartition", f.PerHour)
		x.close("destinationOptions")
	}
	x.str("logFormat", f.Format)
	x.str("maxAggregationInterval", strconv.Itoa(f.Interval))
	writeTags(x, f.Tags)
}
