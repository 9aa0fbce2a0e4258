package model

// InterfaceLimits are what one instance type allows its network interfaces: how many may be
// attached at once, and how many IPv4 addresses (the primary included) and IPv6 addresses each
// may have. EC2 refuses an attachment beyond Interfaces (AttachmentLimitExceeded) and an
// address beyond the per-interface counts (PrivateIpAddressLimitExceeded).
type InterfaceLimits struct {
	Interfaces   int
	IPv4PerENI   int
	IPv6PerENI   int
	IPv6Disabled bool // the type has no IPv6 at all (EC2-Classic era types such as m1)
}

// interfaceLimits are the published values ("Maximum IP addresses per network interface" in the
// EC2 user guide, and DescribeInstanceTypes' networkInfo: maximumNetworkInterfaces,
// ipv4AddressesPerInterface, ipv6AddressesPerInterface) for the types instanceTypes knows.
var interfaceLimits = map[string]InterfaceLimits{
	"m1.small": {2, 4, 0, true},

	"t2.nano": {2, 2, 2, false}, "t2.micro": {2, 2, 2, false}, "t2.small": {3, 4, 4, false}, "t2.medium": {3, 6, 6, false},
	"t2.large": {3, 12, 12, false}, "t2.xlarge": {3, 15, 15, false}, "t2.2xlarge": {3, 15, 15, false},

	"t3.nano": {2, 2, 2, false}, "t3.micro": {2, 2, 2, false}, "t3.small": {3, 4, 4, false}, "t3.medium": {3, 6, 6, false},
	"t3.large": {3, 12, 12, false}, "t3.xlarge": {4, 15, 15, false}, "t3.2xlarge": {4, 15, 15, false},

	"t3a.nano": {2, 2, 2, false}, "t3a.micro": {2, 2, 2, false}, "t3a.small": {2, 4, 4, false}, "t3a.medium": {3, 6, 6, false},
	"t3a.large": {3, 12, 12, false}, "t3a.xlarge": {4, 15, 15, false}, "t3a.2xlarge": {4, 15, 15, false},

	"m5.large": {3, 10, 10, false}, "m5.xlarge": {4, 15, 15, false}, "m5.2xlarge": {4, 15, 15, false}, "m5.4xlarge": {8, 30, 30, false},

	"c5.large": {3, 10, 10, false}, "c5.xlarge": {4, 15, 15, false}, "c5.2xlarge": {4, 15, 15, false}, "c5.4xlarge": {8, 30, 30, false},
}

// UnattachedAddresses is how many IPv4 (primary included), and how many IPv6, addresses an
// interface attached to no instance may hold: the largest types' 50, since the type that will
// limit it is not known yet (EC2 checks again at attachment).
const UnattachedAddresses = 50

// InterfaceLimitsOf returns an instance type's interface limits; a type without published
// values here (there is none today: every type of instanceTypes has a row) gets the most
// permissive ones, so that a missing row never refuses what EC2 would allow.
func InterfaceLimitsOf(instanceType string) InterfaceLimits {
	if l, ok := interfaceLimits[instanceType]; ok {
		return l
	}
	return InterfaceLimits{Interfaces: 15, IPv4PerENI: UnattachedAddresses, IPv6PerENI: UnattachedAddresses}
}
