package host

import "github.com/stockade/stockade/model"

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

// DefaultLimits are the limits of an instance type the table in model/instancetype.go does
// not know. The API rejects such types, but instances launched before it did may still carry
// one: they get the limits of a small instance, 1 GiB, 1 vCPU and 512 processes.
var DefaultLimits = Limits{MemoryMiB: 1024, VCPUs: 1, Processes: ProcessesPerVCPU}

// LimitsOf returns the limits of an instance type: its memory and vCPUs as AWS documents
// them (model.LookupInstanceType) and ProcessesPerVCPU processes per vCPU, or DefaultLimits
// for a type not in the table.
func LimitsOf(instanceType string) Limits {
	t, ok := model.LookupInstanceType(instanceType)
	if !ok {
		return DefaultLimits
	}
	return Limits{MemoryMiB: t.MemoryMiB, VCPUs: t.VCPUs, Processes: t.VCPUs * ProcessesPerVCPU}
}
