package model

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestInstanceTypes checks the table against AWS's published figures for the types the issue
// names: every size of t2, t3 and t3a, m5 and c5 large to 4xlarge, and EC2's default m1.small.
func TestInstanceTypes(t *testing.T) {
	want := map[string]InstanceType{
		"m1.small": {"m1.small", 1, 1740},
		"t2.nano":  {"t2.nano", 1, 512}, "t2.micro": {"t2.micro", 1, 1024}, "t2.small": {"t2.small", 1, 2048},
		"t2.medium": {"t2.medium", 2, 4096}, "t2.large": {"t2.large", 2, 8192},
		"t2.xlarge": {"t2.xlarge", 4, 16384}, "t2.2xlarge": {"t2.2xlarge", 8, 32768},
		"t3.nano": {"t3.nano", 2, 512}, "t3.micro": {"t3.micro", 2, 1024}, "t3.small": {"t3.small", 2, 2048},
		"t3.medium": {"t3.medium", 2, 4096}, "t3.large": {"t3.large", 2, 8192},
		"t3.xlarge": {"t3.xlarge", 4, 16384}, "t3.2xlarge": {"t3.2xlarge", 8, 32768},
		"t3a.nano": {"t3a.nano", 2, 512}, "t3a.micro": {"t3a.micro", 2, 1024}, "t3a.small": {"t3a.small", 2, 2048},
		"t3a.medium": {"t3a.medium", 2, 4096}, "t3a.large": {"t3a.large", 2, 8192},
		"t3a.xlarge": {"t3a.xlarge", 4, 16384}, "t3a.2xlarge": {"t3a.2xlarge", 8, 32768},
		"m5.large": {"m5.large", 2, 8192}, "m5.xlarge": {"m5.xlarge", 4, 16384},
		"m5.2xlarge": {"m5.2xlarge", 8, 32768}, "m5.4xlarge": {"m5.4xlarge", 16, 65536},
		"c5.large": {"c5.large", 2, 4096}, "c5.xlarge": {"c5.xlarge", 4, 8192},
		"c5.2xlarge": {"c5.2xlarge", 8, 16384}, "c5.4xlarge": {"c5.4xlarge", 16, 32768},
	}
	got := map[string]InstanceType{}
	for _, it := range InstanceTypes() {
		got[it.Name] = it
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("instance types (-want +got):\n%s", diff)
	}
	if _, ok := LookupInstanceType(DefaultInstanceType); !ok {
		t.Errorf("the default type %s is not in the table", DefaultInstanceType)
	}
	for _, name := range []string{"foo.bar", "", "t3", "T3.MICRO", "u-6tb1.metal"} {
		if it, ok := LookupInstanceType(name); ok {
			t.Errorf("LookupInstanceType(%q) = %+v, want unknown", name, it)
		}
	}
}
