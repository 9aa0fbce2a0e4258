package model

import "testing"

func TestDedicatedHostAccepts(t *testing.T) {
	for _, c := range []struct {
		name string
		h    DedicatedHost
		typ  string
		want bool
	}{
		{"its type", DedicatedHost{InstanceType: "m5.large"}, "m5.large", true},
		{"another size of its type's family", DedicatedHost{InstanceType: "m5.large"}, "m5.xlarge", false},
		{"its family", DedicatedHost{InstanceFamily: "m5"}, "m5.2xlarge", true},
		{"another family", DedicatedHost{InstanceFamily: "m5"}, "c5.large", false},
		{"a prefix of the family is not it", DedicatedHost{InstanceFamily: "t3"}, "t3a.micro", false},
	} {
		if got := c.h.Accepts(c.typ); got != c.want {
			t.Errorf("%s: Accepts(%s) = %v", c.name, c.typ, got)
		}
	}
	if !KnownFamily("t3a") || KnownFamily("x9") {
		t.Error("KnownFamily")
	}
}
