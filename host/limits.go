package host

// Limits are what an instance of one type may use of the host: its user data and everything
// that starts runs in cgroups of the instance's own (cgroup.go) with these limits.
type Limits struct {
	// MemoryMiB is the memory the instance may use (no swap on top of it).
	MemoryMiB int64
	// VCPUs is how many CPUs' worth of time it may use (a CFS quota, not pinned cores).
	VCPUs int
	// Processes is the most processes (and threads) it may have at once.
	Processes int
}

// ProcessesPerVCPU is the process limit per vCPU: EC2 sets none (an instance is a machine of
// its own), but on a shared host a fork bomb must stop well before the host's pid space does.
const ProcessesPerVCPU = 512

// DefaultLimits are the limits of an instance type the table below does not know. The API
// does not reject such types yet (clients and tests launch various types): they get the
// limits of a small instance, 1 GiB, 1 vCPU and 512 processes.
var DefaultLimits = Limits{MemoryMiB: 1024, VCPUs: 1, Processes: ProcessesPerVCPU}

// instanceTypes are the memory and vCPUs of the instance types AWS documents
// (https://aws.amazon.com/ec2/instance-types/), for the families that lab users launch most.
// m1.small is EC2's default type (RunInstances without InstanceType): 1.7 GiB, 1 vCPU.
var instanceTypes = map[string]struct {
	memMiB int64
	vcpus  int
}{
	"m1.small": {1740, 1},

	"t2.nano": {512, 1}, "t2.micro": {1024, 1}, "t2.small": {2048, 1}, "t2.medium": {4096, 2},
	"t2.large": {8192, 2}, "t2.xlarge": {16384, 4}, "t2.2xlarge": {32768, 8},

	"t3.nano": {512, 2}, "t3.micro": {1024, 2}, "t3.small": {2048, 2}, "t3.medium": {4096, 2},
	"t3.large": {8192, 2}, "t3.xlarge": {16384, 4}, "t3.2xlarge": {32768, 8},

	"t3a.nano": {512, 2}, "t3a.micro": {1024, 2}, "t3a.small": {2048, 2}, "t3a.medium": {4096, 2},
	"t3a.large": {8192, 2}, "t3a.xlarge": {16384, 4}, "t3a.2xlarge": {32768, 8},

	"m5.large": {8192, 2}, "m5.xlarge": {16384, 4}, "m5.2xlarge": {32768, 8},

	"c5.large": {4096, 2}, "c5.xlarge": {8192, 4}, "c5.2xlarge": {16384, 8},
}

// LimitsOf returns the limits of an instance type: its memory and vCPUs as AWS documents
// them and ProcessesPerVCPU processes per vCPU, or DefaultLimits for a type not in the table.
func LimitsOf(instanceType string) Limits {
	t, ok := instanceTypes[instanceType]
	if !ok {
		return DefaultLimits
	}
	return Limits{MemoryMiB: t.memMiB, VCPUs: t.vcpus, Processes: t.vcpus * ProcessesPerVCPU}
}
