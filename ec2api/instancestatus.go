package ec2api

// DescribeInstanceStatus: the status checks of instances. EC2 runs a system check (the host)
// and an instance check (the guest is reachable); Stockade's answer comes from the lab: an
// instance whose sandbox runs passes both ("ok"), one still booting is "initializing", and one
// that is not running has no checks ("not-applicable"). With the lab off an instance is only
// its record, and a running record passes at once. An instance placed on a host that is down
// (its agent's lease lapsed: docs/placement.md) fails the system and instance checks
// ("impaired"), as EC2 reports an instance whose host failed (spec flowlogs-multihost.md B10,
// a design choice); its volumes' check is unaffected.

import (
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

// instanceStatusRow is an instance with its check result: "ok", "initializing", "impaired" or
// "not-applicable".
type instanceStatusRow struct {
	*model.Instance
	status string
}

// details is a check's one detail, as EC2 names it (reachability) and words its status.
func (r instanceStatusRow) detail() string {
	switch r.status {
	case "ok":
		return "passed"
	case "initializing":
		return "initializing"
	case "impaired":
		return "failed"
	}
	return ""
}

// ebs is the row's attached-volume check: a host that is down impairs the other two only.
func (r instanceStatusRow) ebs() instanceStatusRow {
	if r.status == "impaired" {
		r.status = "ok"
	}
	return r
}

// checkStatus is the status of an instance's checks; down names the hosts that are down.
func (c *call) checkStatus(in *model.Instance, down map[string]bool) string {
	switch {
	case in.State != model.StateRunning:
		return "not-applicable"
	case down[in.Node]:
		return "impaired"
	case c.s.cfg.Booted == nil || c.s.cfg.Booted(in.ID):
		return "ok"
	}
	return "initializing"
}

var instanceStatusFilters = filterer[instanceStatusRow]{fields: fields[instanceStatusRow]{
	"availability-zone":            one2(func(r instanceStatusRow) string { return r.AZ }),
	"instance-state-name":          one2(func(r instanceStatusRow) string { return r.State.Name }),
	"instance-state-code":          one2(func(r instanceStatusRow) string { return itoa(r.State.Code) }),
	"instance-status.status":       one2(func(r instanceStatusRow) string { return r.status }),
	"system-status.status":         one2(func(r instanceStatusRow) string { return r.status }),
	"attached-ebs-status.status":   one2(func(r instanceStatusRow) string { return r.ebs().status }),
	"instance-status.reachability": one2(func(r instanceStatusRow) string { return r.detail() }),
	"system-status.reachability":   one2(func(r instanceStatusRow) string { return r.detail() }),
	"attached-ebs-status.reachability": one2(func(r instanceStatusRow) string {
		return r.ebs().detail()
	}),
	// No instance has scheduled events, and none is managed by a service: these filters are
	// valid and match nothing but "false" for operator.managed.
	"event.code":                     func(instanceStatusRow) []string { return nil },
	"event.description":              func(instanceStatusRow) []string { return nil },
	"event.instance-event-id":        func(instanceStatusRow) []string { return nil },
	"event.not-after":                func(instanceStatusRow) []string { return nil },
	"event.not-before":               func(instanceStatusRow) []string { return nil },
	"event.not-before-deadline":      func(instanceStatusRow) []string { return nil },
	"operator.managed":               func(instanceStatusRow) []string { return one("false") },
	"operator.principal":             func(instanceStatusRow) []string { return nil },
	"availability-zone-id":           func(instanceStatusRow) []string { return nil },
	"instance-status.impaired-since": func(instanceStatusRow) []string { return nil },
}}

var describeInstanceStatus = describeSpec[instanceStatusRow]{
	IDs:          []string{"InstanceId"},
	NoMaxWithIDs: true,
	// By default only running instances are described (EC2: "unless you specifically
	// indicate to return the status of all instances").
	Keep: func(r *query.Request) (func(instanceStatusRow) bool, error) {
		all, _, err := optBool(r, "IncludeAllInstances")
		if err != nil {
			return nil, err
		}
		if _, _, err := optBool(r, "IncludeManagedResources"); err != nil {
			return nil, err
		}
		return func(x instanceStatusRow) bool { return all || x.State == model.StateRunning }, nil
	},
	From: func(c *call, v control.View) source[instanceStatusRow] {
		down, err := c.svc().DownHosts(c.ctx)
		if err != nil {
			return source[instanceStatusRow]{err: err}
		}
		row := func(in *model.Instance) instanceStatusRow { return instanceStatusRow{in, c.checkStatus(in, down)} }
		return rowsOf(v.Instances, row, instanceByID(v))
	},
	Filters: instanceStatusFilters,
	Key:     func(r instanceStatusRow) string { return r.ID },
	Set:     "instanceStatusSet",
	Item: func(c *call, r instanceStatusRow) {
		x := &c.out
		x.str("instanceId", r.ID)
		x.str("availabilityZone", r.AZ)
		x.open("operator")
		x.bool("managed", false)
		x.close("operator")
		x.empty("eventsSet")
		x.open("instanceState")
		x.int("code", int64(r.State.Code))
		x.str("name", r.State.Name)
		x.close("instanceState")
		for _, check := range []string{"systemStatus", "instanceStatus", "attachedEbsStatus"} {
			r := r
			if check == "attachedEbsStatus" {
				r = r.ebs()
			}
			x.open(check)
			x.str("status", r.status)
			if d := r.detail(); d != "" {
				x.open("details")
				x.open("item")
				x.str("name", "reachability")
				x.str("status", d)
				x.close("item")
				x.close("details")
			}
			x.close(check)
		}
	},
}
