package ec2api

import (
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

// Dedicated Hosts: AllocateHosts, DescribeHosts, ReleaseHosts, and ModifyInstancePlacement
// (control/hosts.go). The reply shapes are botocore's EC2 model's (AllocateHostsResult,
// Host, ReleaseHostsResult, ModifyInstancePlacementResult).

func allocateHosts(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "dedicated-host")
	if err != nil {
		return err
	}
	qty, given, err := optInt(r, "Quantity")
	if err != nil {
		return err
	}
	if !given {
		qty = 1 // [UNCONFIRMED] the API reference gives Quantity a default of 1
	}
	ids, res, err := c.svc().AllocateHosts(c.ctx, c.tenant, control.AllocateHostsInput{
		Zone: str(r, "AvailabilityZone"), InstanceType: str(r, "InstanceType"), InstanceFamily: str(r, "InstanceFamily"),
		Quantity: int(qty), AutoPlacement: str(r, "AutoPlacement"), HostRecovery: str(r, "HostRecovery"),
		ClientToken: str(r, "ClientToken"), Tags: tags, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.open("hostIdSet")
	for _, id := range ids {
		x.str("item", id)
	}
	x.close("hostIdSet")
	return nil
}

func releaseHosts(c *call) error {
	hostIDs, err := ids(c.req, "HostId")
	if err != nil {
		return err
	}
	ok, failed, res, err := c.svc().ReleaseHosts(c.ctx, c.tenant, hostIDs, c.dryRun())
	if err != nil {
		return err
	}
	x := c.written(res)
	if len(ok) == 0 {
		x.empty("successful")
	} else {
		x.open("successful")
		for _, id := range ok {
			x.str("item", id)
		}
		x.close("successful")
	}
	for i := range failed {
		failed[i].Code = "Client." + failed[i].Code // as EC2 reports them (control.ReleaseHosts)
	}
	writeFailures(x, failed)
	return nil
}

func modifyInstancePlacement(c *call) error {
	r := c.req
	for _, p := range []string{"GroupName", "GroupId", "PartitionNumber", "HostResourceGroupArn"} {
		if str(r, p) != "" {
			// Placement groups and host resource groups are not modelled: refused, not ignored.
			return model.InvalidParameterCombination.Errorf("The parameter %s is not supported by Stockade.", p) // [UNCONFIRMED] code
		}
	}
	res, err := c.svc().ModifyInstancePlacement(c.ctx, c.tenant, control.ModifyPlacementInput{InstanceID: str(r, "InstanceId"),
		Tenancy: str(r, "Tenancy"), HostID: str(r, "HostId"), Affinity: str(r, "Affinity"), DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	c.written(res).bool("return", true)
	return nil
}

// hostRow is a Dedicated Host with the instances on it.
type hostRow struct {
	*model.DedicatedHost
	instances []*model.Instance
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

var hostFilters = filterer[hostRow]{
	fields: fields[hostRow]{
		"auto-placement":      one2(func(h hostRow) string { return onOff(h.AutoPlacement) }),
		"availability-zone":   one2(func(h hostRow) string { return h.AZ }),
		"client-token":        one2(func(h hostRow) string { return h.ClientToken }),
		"host-reservation-id": func(hostRow) []string { return nil }, // no host reservations
		"instance-type":       one2(func(h hostRow) string { return h.InstanceType }),
		"state":               one2(func(h hostRow) string { return h.State }),
	},
	tagsOf: func(h hostRow) model.Tags { return h.Tags },
}

var describeHosts = describeSpec[hostRow]{
	IDs: []string{"HostId"},
	From: func(_ *call, v control.View) source[hostRow] {
		row := func(h *model.DedicatedHost) hostRow { return hostRow{h, v.HostInstances(h.ID)} }
		return rowsOf(v.DedicatedHosts, row, v.DedicatedHost)
	},
	Filters: hostFilters,
	Key:     func(h hostRow) string { return h.ID },
	// [UNCONFIRMED] range: the API reference bounds MaxResults at 500 and says it may not be
	// given with HostId.N.
	Limits:       pageLimits{5, 500},
	NoMaxWithIDs: true,
	Set:          "hostSet",
	Item:         func(c *call, h hostRow) { writeHost(&c.out, h) },
}

func writeHost(x *xmlWriter, h hostRow) {
	used := 0
	var usedMem int64
	for _, in := range h.instances {
		if t, ok := model.LookupInstanceType(in.InstanceType); ok {
			used += t.VCPUs
			usedMem += t.MemoryMiB
		}
	}
	x.str("autoPlacement", onOff(h.AutoPlacement))
	x.str("availabilityZone", h.AZ)
	x.open("availableCapacity")
	x.open("availableInstanceCapacity")
	// One item per type the host accepts: how many more fit, and how many fit when empty.
	for _, t := range model.InstanceTypes() {
		if !h.Accepts(t.Name) {
			continue
		}
		x.open("item")
		x.int("availableCapacity", int64(min((h.VCPUs-used)/t.VCPUs, int((h.MemoryMiB-usedMem)/t.MemoryMiB))))
		x.str("instanceType", t.Name)
		x.int("totalCapacity", int64(min(h.VCPUs/t.VCPUs, int(h.MemoryMiB/t.MemoryMiB))))
		x.close("item")
	}
	x.close("availableInstanceCapacity")
	x.int("availableVCpus", int64(h.VCPUs-used))
	x.close("availableCapacity")
	x.opt("clientToken", h.ClientToken)
	x.str("hostId", h.ID)
	x.open("hostProperties")
	// A Stockade host reports no sockets: one socket, two vCPUs a core, as x86 hosts with
	// hyper-threading have ([UNCONFIRMED] for any particular machine).
	x.int("cores", int64(max(h.VCPUs/2, 1)))
	x.opt("instanceType", h.InstanceType)
	x.opt("instanceFamily", h.InstanceFamily)
	x.int("sockets", 1)
	x.int("totalVCpus", int64(h.VCPUs))
	x.close("hostProperties")
	if len(h.instances) == 0 {
		x.empty("instances")
	} else {
		x.open("instances")
		for _, in := range h.instances {
			x.open("item")
			x.str("instanceId", in.ID)
			x.str("instanceType", in.InstanceType)
			x.str("ownerId", in.OwnerID)
			x.close("item")
		}
		x.close("instances")
	}
	x.str("state", h.State)
	x.time("allocationTime", h.AllocationTime)
	if !h.ReleaseTime.IsZero() {
		x.time("releaseTime", h.ReleaseTime)
	}
	writeTags(x, h.Tags)
	x.str("hostRecovery", onOff(h.HostRecovery))
	x.str("allowsMultipleInstanceTypes", onOff(h.InstanceFamily != ""))
	x.str("ownerId", h.OwnerID)
	x.str("availabilityZoneId", control.ZoneID(h.AZ))
	x.bool("memberOfServiceLinkedResourceGroup", false)
	x.str("hostMaintenance", "off")
}
