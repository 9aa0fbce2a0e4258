package model

// The catalogue's codes for VPCs, subnets and DHCP option sets (issue 13), in a file of their
// own so that the parts of the issue built side by side do not edit one list. The codes are
// in the EC2 API reference's error-code list. Messages follow AWS's replies as quoted in
// public bug reports and tutorials (InvalidCidrBlock.InUse, DefaultVpcAlreadyExists as the
// AWS CLI prints it); [UNCONFIRMED] against a live account: the wording of CidrLimitExceeded,
// InvalidVpcCidrBlockAssociationID.NotFound, InvalidSubnetCidrBlockAssociationID.NotFound,
// InvalidDhcpOptionID.NotFound, DhcpOptionsLimitExceeded,
// DefaultSubnetAlreadyExistsInAvailabilityZone, DefaultVpcDoesNotExist (the reference's
// description) and InvalidSubnetCidrReservationID.NotFound.
var (
	CidrLimitExceeded                            = def("CidrLimitExceeded", 400, "This network '%s' has met its maximum number of allowed CIDRs: %d")
	InvalidCidrBlockInUse                        = def("InvalidCidrBlock.InUse", 400, "The vpc %s currently has a subnet within CIDR block %s")
	InvalidVpcCidrBlockAssociationIDNotFound     = def("InvalidVpcCidrBlockAssociationID.NotFound", 400, "The vpc CIDR block association ID '%s' does not exist")
	InvalidSubnetCidrBlockAssociationIDNotFound  = def("InvalidSubnetCidrBlockAssociationID.NotFound", 400, "The subnet CIDR block association ID '%s' does not exist")
	InvalidDhcpOptionIDMalformed                 = def("InvalidDhcpOptionsId.Malformed", 400, "Invalid id: \"%s\" (expecting \"dopt-...\")")
	InvalidDhcpOptionIDNotFound                  = def("InvalidDhcpOptionID.NotFound", 400, "The dhcpOption ID '%s' does not exist")
	DhcpOptionsLimitExceeded                     = def("DhcpOptionsLimitExceeded", 400, "The maximum number of DHCP option sets has been reached.")
	DefaultVpcAlreadyExists                      = def("DefaultVpcAlreadyExists", 400, "A Default VPC already exists for this account in this region.")
	DefaultSubnetAlreadyExistsInAvailabilityZone = def("DefaultSubnetAlreadyExistsInAvailabilityZone", 400, "")
	DefaultVpcDoesNotExist                       = def("DefaultVpcDoesNotExist", 400, "There is no default VPC in which to carry out the request.")
	InvalidSubnetCidrReservationIDNotFound       = def("InvalidSubnetCidrReservationID.NotFound", 400, "The subnet CIDR reservation ID '%s' does not exist")
)
