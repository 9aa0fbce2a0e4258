package model

// Placement and Dedicated Hosts (issue 17, item 3), from EC2's error code list
// (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html): the two
// "Insufficient…Capacity" codes for a region or zone without room are in its server error
// list, hence 500 ([UNCONFIRMED] that EC2 sends them with status 500 rather than 503; SDKs
// retry both); the host ones are client errors. Messages are Stockade's where marked so in
// control/placement.go and control/hosts.go. (HostLimitExceeded, EC2's answer to an account
// over its Dedicated Host quota, is not defined: Stockade has no such quota.)
var (
	InsufficientInstanceCapacity = def("InsufficientInstanceCapacity", 500, "")
	InsufficientHostCapacity     = def("InsufficientHostCapacity", 500, "")
	InsufficientCapacityOnHost   = def("InsufficientCapacityOnHost", 400, "")
	IncompatibleHostRequirements = def("IncompatibleHostRequirements", 400, "")
	// Both spellings appear in EC2's list; DescribeHosts answers InvalidHostID.NotFound
	// ([UNCONFIRMED] which one each action uses).
	InvalidHostIDNotFound  = def("InvalidHostID.NotFound", 400, "The specified host ID '%s' does not exist")
	InvalidHostIDMalformed = def("InvalidHostID.Malformed", 400, "Invalid id: \"%s\" (expecting \"h-...\")")
	// ReleaseHosts' per-host error for a host that still runs instances ([UNCONFIRMED] code:
	// EC2 reports it in the unsuccessful item, with the Client. prefix, as for not found).
	InvalidHostOccupied = def("InvalidHost.Occupied", 400, "")
)
