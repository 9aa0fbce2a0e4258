package model

import "testing"

// Every type Stockade launches has published interface limits: a missing row would silently
// take the permissive fallback.
func TestInterfaceLimitsCoverEveryType(t *testing.T) {
	for _, it := range InstanceTypes() {
		l, ok := interfaceLimits[it.Name]
		if !ok {
			t.Errorf("%s has no interface limits", it.Name)
			continue
		}
		if l.Interfaces < 2 || l.IPv4PerENI < 2 || (l.IPv6PerENI == 0) != l.IPv6Disabled {
			t.Errorf("%s: implausible limits %+v", it.Name, l)
		}
	}
	if got := InterfaceLimitsOf("t2.micro"); got != (InterfaceLimits{2, 2, 2, false}) {
		t.Errorf("t2.micro: %+v", got)
	}
	if got := InterfaceLimitsOf("x9.unknown"); got.IPv4PerENI != UnattachedAddresses {
		t.Errorf("fallback: %+v", got)
	}
}
