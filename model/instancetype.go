package model

import (
	"slices"
	"strings"
)

// InstanceType is one EC2 instance type Stockade launches: its name and the vCPUs and memory
// AWS publishes for it (https://aws.amazon.com/ec2/instance-types/ and DescribeInstanceTypes'
// vCpuInfo.DefaultVCpus and memoryInfo.SizeInMiB). A host turns them into an instance's limits.
type InstanceType struct {
	Name      string
	VCPUs     int
	MemoryMiB int64
}

// DefaultInstanceType is the type RunInstances launches when the request names none.
const DefaultInstanceType = "m1.small"

// instanceTypes is the table of known types. A type not in it is rejected by the API
// (ValidateInstanceType), as EC2 rejects a type it does not offer: every instance a host runs
// has limits from here. The families are those lab users launch most; adding a row is all a
// new type needs.
var instanceTypes = func() map[string]InstanceType {
	rows := []InstanceType{
		// m1.small is EC2's default type: 1 vCPU, 1.7 GiB (1740 MiB in DescribeInstanceTypes).
		{"m1.small", 1, 1740},

		{"t2.nano", 1, 512}, {"t2.micro", 1, 1024}, {"t2.small", 1, 2048}, {"t2.medium", 2, 4096},
		{"t2.large", 2, 8192}, {"t2.xlarge", 4, 16384}, {"t2.2xlarge", 8, 32768},

		{"t3.nano", 2, 512}, {"t3.micro", 2, 1024}, {"t3.small", 2, 2048}, {"t3.medium", 2, 4096},
		{"t3.large", 2, 8192}, {"t3.xlarge", 4, 16384}, {"t3.2xlarge", 8, 32768},

		{"t3a.nano", 2, 512}, {"t3a.micro", 2, 1024}, {"t3a.small", 2, 2048}, {"t3a.medium", 2, 4096},
		{"t3a.large", 2, 8192}, {"t3a.xlarge", 4, 16384}, {"t3a.2xlarge", 8, 32768},

		{"m5.large", 2, 8192}, {"m5.xlarge", 4, 16384}, {"m5.2xlarge", 8, 32768}, {"m5.4xlarge", 16, 65536},

		{"c5.large", 2, 4096}, {"c5.xlarge", 4, 8192}, {"c5.2xlarge", 8, 16384}, {"c5.4xlarge", 16, 32768},
	}
	m := make(map[string]InstanceType, len(rows))
	for _, r := range rows {
		m[r.Name] = r
	}
	return m
}()

// Nitro reports whether the type runs on the Nitro System. Only Nitro types launch in an
// IPv6-only subnet and reach the metadata service's IPv6 endpoint ("IPv6-only subnets", VPC
// User Guide); of the types above, the Xen ones are m1 and t2.
func (t InstanceType) Nitro() bool {
	family, _, _ := strings.Cut(t.Name, ".")
	return family != "m1" && family != "t2"
}

// LookupInstanceType returns the type named, if Stockade knows it.
func LookupInstanceType(name string) (InstanceType, bool) {
	t, ok := instanceTypes[name]
	return t, ok
}

// InstanceTypes returns every known type, sorted by name.
func InstanceTypes() []InstanceType {
	out := make([]InstanceType, 0, len(instanceTypes))
	for _, t := range instanceTypes {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b InstanceType) int { return strings.Compare(a.Name, b.Name) })
	return out
}
