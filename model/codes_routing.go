package model

// The catalogue's routing codes (route tables, routes, internet gateways), kept in a file of
// their own so that the parts of issue 12 built side by side do not edit one list. Messages
// follow AWS's replies; [UNCONFIRMED] against a live account: the wording of
// RouteAlreadyExists, InvalidRoute.NotFound, Resource.AlreadyAssociated and
// Gateway.NotAttached, and the code EgressOnlyInternetGatewayLimitExceeded.
var (
	InvalidRouteTableIDMalformed      = def("InvalidRouteTableId.Malformed", 400, "Invalid id: \"%s\" (expecting \"rtb-...\")")
	InvalidRouteTableIDNotFound       = def("InvalidRouteTableID.NotFound", 400, "The routeTable ID '%s' does not exist")
	InvalidRouteNotFound              = def("InvalidRoute.NotFound", 400, "")
	InvalidRouteMalformed             = def("InvalidRoute.Malformed", 400, "")
	RouteAlreadyExists                = def("RouteAlreadyExists", 400, "The route identified by %s already exists.")
	RouteLimitExceeded                = def("RouteLimitExceeded", 400, "The maximum number of routes has been reached.")
	RouteTableLimitExceeded           = def("RouteTableLimitExceeded", 400, "The maximum number of route tables has been reached.")
	InvalidInternetGatewayIDMalformed = def("InvalidInternetGatewayId.Malformed", 400, "Invalid id: \"%s\" (expecting \"igw-...\")")
	InvalidInternetGatewayIDNotFound  = def("InvalidInternetGatewayID.NotFound", 400, "The internetGateway ID '%s' does not exist")
	InternetGatewayLimitExceeded      = def("InternetGatewayLimitExceeded", 400, "The maximum number of internet gateways has been reached.")
	InvalidEgressOnlyIGWIDMalformed   = def("InvalidEgressOnlyInternetGatewayId.Malformed", 400, "Invalid id: \"%s\" (expecting \"eigw-...\")")
	InvalidEgressOnlyIGWIDNotFound    = def("InvalidEgressOnlyInternetGatewayId.NotFound", 400, "The egressOnlyInternetGateway ID '%s' does not exist")
	EgressOnlyIGWLimitExceeded        = def("EgressOnlyInternetGatewayLimitExceeded", 400, "The maximum number of egress-only internet gateways has been reached.")
	InvalidGatewayIDNotFound          = def("InvalidGatewayID.NotFound", 400, "The gateway ID '%s' does not exist")
	// InvalidNatGatewayIDNotFound answers a route to a NAT gateway the tenant does not have.
	// The NAT gateway work (issue 12, addresses and NAT) needs it too: keep one definition.
	InvalidNatGatewayIDNotFound = def("InvalidNatGatewayID.NotFound", 400, "The natGateway ID '%s' does not exist")
)
