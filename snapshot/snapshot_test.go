package snapshot

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
)

// TestLoadValid reads the small complete snapshot in testdata/valid.
func TestLoadValid(t *testing.T) {
	s, err := Load("testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	type rule struct {
		ID, Proto string
		From, To  int32
		Peer      string
	}
	rules := func(rs []model.Rule) []rule {
		var out []rule
		for _, r := range rs {
			out = append(out, rule{r.ID, r.Protocol, r.FromPort, r.ToPort, r.Peer.Key()})
		}
		return out
	}
	got := map[string][]rule{}
	for _, g := range s.Groups {
		got[g.ID+" in"], got[g.ID+" out"] = rules(g.Ingress), rules(g.Egress)
	}
	want := map[string][]rule{
		"sg-0000000000000000a in":  {{"sgr-0000000000000000a", "tcp", 443, 443, "0.0.0.0/0"}, {"sgr-0000000000000000b", "icmp", -1, -1, "10.0.0.0/16"}},
		"sg-0000000000000000a out": {{"sgr-0000000000000000c", "-1", -1, -1, "0.0.0.0/0"}, {"sgr-0000000000000000d", "-1", -1, -1, "::/0"}},
		"sg-0000000000000000b in":  {{"sgr-0000000000000000e", "tcp", 5432, 5432, "pl-0000000000000000a"}, {"sgr-0000000000000000f", "tcp", 5432, 5432, "sg-0000000000000000a"}},
		"sg-0000000000000000b out": nil,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rules (-want +got):\n%s", d)
	}
	acl := s.NACLs[0]
	wantEntries := []model.NACLEntry{
		{RuleNumber: 100, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 32767, Egress: true, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{RuleNumber: 100, Protocol: "6", Allow: true, CIDR: netip.MustParsePrefix("10.0.1.0/24"), HasPorts: true, FromPort: 5432, ToPort: 5432},
		{RuleNumber: 110, Protocol: "1", Allow: true, CIDR: netip.MustParsePrefix("10.0.0.0/16"), HasICMP: true, ICMPType: -1, ICMPCode: -1},
		{RuleNumber: 32768, Protocol: "-1", CIDR: netip.MustParsePrefix("::/0")},
		{RuleNumber: 32767, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")},
	}
	if d := cmp.Diff(wantEntries, acl.Entries, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("ACL entries (-want +got):\n%s", d)
	}
	if len(s.PrefixLists) != 1 || len(s.PrefixLists[0].Entries) != 2 || s.PrefixLists[0].MaxEntries != 10 {
		t.Errorf("prefix lists (the AWS-managed one skipped): %+v", s.PrefixLists)
	}
	if e := s.ENIs[0]; e.PrivateIP != netip.MustParseAddr("10.0.1.4") || len(e.SecondaryIPs) != 1 || len(e.IPv6) != 1 || e.Groups[0] != "sg-0000000000000000a" {
		t.Errorf("interface: %+v", e)
	}
	if _, err := policy.Compile(s); err != nil {
		t.Errorf("compile: %v", err)
	}
}

// requiredFields are the JSON paths, per file, whose absence must be refused: each is a field
// the answers depend on.
var requiredFields = map[string][]string{
	"describe-vpcs.json":    {"Vpcs", "Vpcs[0].VpcId", "Vpcs[0].CidrBlock", "Vpcs[0].Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock"},
	"describe-subnets.json": {"Subnets", "Subnets[1].SubnetId", "Subnets[1].VpcId", "Subnets[1].CidrBlock"},
	"describe-security-groups.json": {"SecurityGroups", "SecurityGroups[0].GroupId", "SecurityGroups[0].VpcId",
		"SecurityGroups[0].IpPermissions", "SecurityGroups[0].IpPermissionsEgress",
		"SecurityGroups[0].IpPermissions[0].IpProtocol", "SecurityGroups[0].IpPermissions[0].FromPort", "SecurityGroups[0].IpPermissions[0].ToPort",
		"SecurityGroups[0].IpPermissions[1].FromPort", "SecurityGroups[0].IpPermissions[1].ToPort",
		"SecurityGroups[0].IpPermissions[0].IpRanges[0].CidrIp", "SecurityGroups[0].IpPermissionsEgress[0].Ipv6Ranges[0].CidrIpv6",
		"SecurityGroups[1].IpPermissions[0].PrefixListIds[0].PrefixListId", "SecurityGroups[1].IpPermissions[0].UserIdGroupPairs[0].GroupId"},
	"describe-security-group-rules.json": {"SecurityGroupRules", "SecurityGroupRules[0].SecurityGroupRuleId", "SecurityGroupRules[0].GroupId",
		"SecurityGroupRules[0].IsEgress", "SecurityGroupRules[0].IpProtocol", "SecurityGroupRules[0].FromPort", "SecurityGroupRules[0].ToPort",
		"SecurityGroupRules[5].ReferencedGroupInfo.GroupId"},
	"describe-network-interfaces.json": {"NetworkInterfaces", "NetworkInterfaces[0].NetworkInterfaceId", "NetworkInterfaces[0].SubnetId",
		"NetworkInterfaces[0].VpcId", "NetworkInterfaces[0].PrivateIpAddresses", "NetworkInterfaces[0].PrivateIpAddresses[1].PrivateIpAddress",
		"NetworkInterfaces[0].Ipv6Addresses[0].Ipv6Address", "NetworkInterfaces[0].Groups", "NetworkInterfaces[0].Groups[0].GroupId",
		"NetworkInterfaces[0].Association.PublicIp", "NetworkInterfaces[0].Attachment.DeviceIndex", "NetworkInterfaces[2].Association.PublicIp"},
	"describe-network-acls.json": {"NetworkAcls", "NetworkAcls[0].NetworkAclId", "NetworkAcls[0].VpcId", "NetworkAcls[0].IsDefault",
		"NetworkAcls[0].Entries", "NetworkAcls[0].Associations", "NetworkAcls[0].Associations[0].SubnetId",
		"NetworkAcls[0].Associations[0].NetworkAclAssociationId",
		"NetworkAcls[0].Entries[2].RuleNumber", "NetworkAcls[0].Entries[2].Egress", "NetworkAcls[0].Entries[2].RuleAction",
		"NetworkAcls[0].Entries[2].Protocol", "NetworkAcls[0].Entries[2].CidrBlock", "NetworkAcls[0].Entries[2].PortRange",
		"NetworkAcls[0].Entries[2].PortRange.From", "NetworkAcls[0].Entries[2].PortRange.To",
		"NetworkAcls[0].Entries[3].IcmpTypeCode", "NetworkAcls[0].Entries[3].IcmpTypeCode.Type", "NetworkAcls[0].Entries[3].IcmpTypeCode.Code"},
	"describe-managed-prefix-lists.json":                        {"PrefixLists", "PrefixLists[0].PrefixListId", "PrefixLists[0].AddressFamily"},
	"get-managed-prefix-list-entries-pl-0000000000000000a.json": {"Entries", "Entries[1].Cidr"},
	"describe-route-tables.json": {"RouteTables", "RouteTables[0].RouteTableId", "RouteTables[0].VpcId", "RouteTables[0].Routes",
		"RouteTables[0].Associations", "RouteTables[0].Associations[0].Main", "RouteTables[0].Associations[0].RouteTableAssociationId",
		"RouteTables[1].Associations[0].Main"},
	"describe-internet-gateways.json": {"InternetGateways", "InternetGateways[0].InternetGatewayId", "InternetGateways[0].Attachments",
		"InternetGateways[0].Attachments[0].VpcId", "InternetGateways[0].Attachments[0].State"},
	"describe-egress-only-internet-gateways.json": {"EgressOnlyInternetGateways", "EgressOnlyInternetGateways[0].EgressOnlyInternetGatewayId",
		"EgressOnlyInternetGateways[0].Attachments", "EgressOnlyInternetGateways[0].Attachments[0].VpcId", "EgressOnlyInternetGateways[0].Attachments[0].State"},
	"describe-addresses.json": {"Addresses", "Addresses[0].AllocationId", "Addresses[0].PublicIp", "Addresses[0].NetworkInterfaceId",
		"Addresses[0].PrivateIpAddress", "Addresses[2].PublicIp"},
	"describe-nat-gateways.json": {"NatGateways", "NatGateways[0].NatGatewayId", "NatGateways[0].SubnetId", "NatGateways[0].VpcId",
		"NatGateways[0].State", "NatGateways[0].NatGatewayAddresses", "NatGateways[0].NatGatewayAddresses[0].NetworkInterfaceId",
		"NatGateways[0].NatGatewayAddresses[0].PrivateIp", "NatGateways[0].NatGatewayAddresses[0].PublicIp", "NatGateways[0].NatGatewayAddresses[0].AllocationId",
		"NatGateways[1].NatGatewayAddresses"},
	"describe-instances.json": {"Reservations", "Reservations[0].Instances", "Reservations[0].Instances[0].InstanceId",
		"Reservations[0].Instances[0].NetworkInterfaces[0].NetworkInterfaceId", "Reservations[0].Instances[0].NetworkInterfaces[0].Attachment",
		"Reservations[0].Instances[0].NetworkInterfaces[0].Attachment.DeviceIndex"},
}

// TestLoadRefusesMissingField deletes one required field at a time and checks that the error
// names the file and the field, and says it is missing.
func TestLoadRefusesMissingField(t *testing.T) {
	for file, paths := range requiredFields {
		for _, path := range paths {
			t.Run(file+"/"+path, func(t *testing.T) {
				dir := copyValid(t)
				edit(t, dir, file, func(v any) { deletePath(t, v, path) })
				_, err := Load(dir)
				if err == nil {
					t.Fatal("accepted")
				}
				msg := err.Error()
				want := path + ": missing"
				if strings.Contains(path, ".CidrBlock") && strings.HasPrefix(path, "NetworkAcls") {
					want = path + ": missing (an entry has CidrBlock or Ipv6CidrBlock)"
				}
				if !strings.Contains(msg, filepath.Join(dir, file)) || !strings.Contains(msg, want) {
					t.Errorf("error %q does not name %s and %q", msg, file, want)
				}
			})
		}
	}
}

// TestLoadRefusesMissingFile removes each file in turn: none is optional, and the error names
// the AWS CLI command that writes it.
func TestLoadRefusesMissingFile(t *testing.T) {
	names := []string{"get-managed-prefix-list-entries-pl-0000000000000000a.json"}
	for _, f := range Files {
		names = append(names, f.Name)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dir := copyValid(t)
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, name)+": missing: write it with `aws ec2 ") {
				t.Errorf("error %v", err)
			}
		})
	}
}

// TestLoadRefusesBadValues checks values of the wrong kind or out of range: the error names the
// file and the exact path, and never a Go type.
func TestLoadRefusesBadValues(t *testing.T) {
	tests := []struct {
		file, path string
		value      any
		want       string
	}{
		{"describe-vpcs.json", "", []any{}, "describe-vpcs.json: (top level): expected an object, found an array"},
		{"describe-vpcs.json", "Vpcs", map[string]any{}, "Vpcs: expected an array, found an object"},
		{"describe-vpcs.json", "Vpcs[0]", []any{1}, "Vpcs[0]: expected an object, found an array"},
		{"describe-subnets.json", "Subnets[0].CidrBlock", "10.0.300.0/24", `Subnets[0].CidrBlock: "10.0.300.0/24" is not a CIDR`},
		{"describe-subnets.json", "Subnets[0].CidrBlock", "", `Subnets[0].CidrBlock: missing`},
		{"describe-subnets.json", "Subnets[0].CidrBlock", 7, `Subnets[0].CidrBlock: expected a string, found a number`},
		{"describe-security-groups.json", "SecurityGroups[0].IpPermissions[0].FromPort", "443", "IpPermissions[0].FromPort: expected a number, found a string"},
		{"describe-security-groups.json", "SecurityGroups[0].IpPermissions[0].FromPort", 70000, "IpPermissions[0].FromPort: 70000 is not a whole number from -1 to 65535"},
		{"describe-security-groups.json", "SecurityGroups[0].IpPermissions[0].IpProtocol", "foo", `IpPermissions[0].IpProtocol: "foo" is not a protocol`},
		{"describe-security-groups.json", "SecurityGroups[0].IpPermissions[0].IpRanges", []any{}, "SecurityGroups[0].IpPermissions[0]: no peer"},
		{"describe-network-acls.json", "NetworkAcls[0].Entries[0].RuleNumber", 0, "Entries[0].RuleNumber: 0 is not a whole number from 1 to 32768"},
		{"describe-network-acls.json", "NetworkAcls[0].Entries[0].RuleNumber", 1.5, "Entries[0].RuleNumber: 1.5 is not"},
		{"describe-network-acls.json", "NetworkAcls[0].Entries[0].RuleAction", "permit", `Entries[0].RuleAction: "permit" is neither allow nor deny`},
		{"describe-network-acls.json", "NetworkAcls[0].Entries[0].Protocol", "tcp", `Entries[0].Protocol: "tcp" is not a protocol number`},
		{"describe-network-acls.json", "NetworkAcls[0].Entries[0].Egress", "yes", "Entries[0].Egress: expected true or false, found a string"},
		{"describe-network-acls.json", "NetworkAcls[0].Entries[0].Ipv6CidrBlock", "::/0", "NetworkAcls[0].Entries[0]: has both CidrBlock and Ipv6CidrBlock"},
		{"describe-network-interfaces.json", "NetworkInterfaces[1].PrivateIpAddresses", []any{}, "NetworkInterfaces[1].PrivateIpAddresses: empty"},
		{"describe-network-interfaces.json", "NetworkInterfaces[1].PrivateIpAddresses[0].PrivateIpAddress", "10.0.2", `"10.0.2" is not an IP address`},
		{"describe-security-group-rules.json", "SecurityGroupRules[0].CidrIpv6", "::/0", "SecurityGroupRules[0]: names 2 peers"},
		{"describe-managed-prefix-lists.json", "PrefixLists[0].AddressFamily", "ipv4", `PrefixLists[0].AddressFamily: "ipv4" is neither IPv4 nor IPv6`},
		{"describe-route-tables.json", "RouteTables[0].Routes[2].DestinationIpv6CidrBlock", "::/0", "RouteTables[0].Routes[2]: names 2 destinations"},
		{"describe-route-tables.json", "RouteTables[0].Routes[2].NatGatewayId", nil, "RouteTables[0].Routes[2]: no target"},
		{"describe-route-tables.json", "RouteTables[0].Routes[2].DestinationCidrBlock", "0.0.0.0/33", `Routes[2].DestinationCidrBlock: "0.0.0.0/33" is not a CIDR`},
		{"describe-route-tables.json", "RouteTables[1].Routes[2].InstanceId", "i-0000000000000000a", "Routes[2].NetworkInterfaceId: missing (a route to instance i-0000000000000000a names its interface too)"},
		// Cross-checks: references to what the snapshot does not hold.
		{"describe-route-tables.json", "RouteTables[1].VpcId", "vpc-0000000000000dead", "RouteTables[1].VpcId: vpc-0000000000000dead of rtb-0000000000000000b is not in describe-vpcs.json"},
		{"describe-route-tables.json", "RouteTables[1].Associations[0].SubnetId", "subnet-000000000dead", "RouteTables[1].Associations[0].SubnetId: subnet-000000000dead is not a subnet of vpc-0a1b2c3d4e5f60718"},
		{"describe-route-tables.json", "RouteTables[0].Associations[0].Main", false, "RouteTables: no main route table of vpc-0a1b2c3d4e5f60718"},
		{"describe-route-tables.json", "RouteTables[1].Associations[0].Main", true, "RouteTables: 2 main route tables of vpc-0a1b2c3d4e5f60718"},
		{"describe-internet-gateways.json", "InternetGateways[1].Attachments", []any{map[string]any{"State": "available", "VpcId": "vpc-0000000000000dead"}},
			"InternetGateways[1].Attachments: vpc-0000000000000dead of igw-0000000000000000b is not in describe-vpcs.json"},
		{"describe-egress-only-internet-gateways.json", "EgressOnlyInternetGateways[0].Attachments[0].VpcId", "vpc-0000000000000dead",
			"EgressOnlyInternetGateways[0].Attachments: vpc-0000000000000dead of eigw-0000000000000000a is not in describe-vpcs.json"},
		{"describe-nat-gateways.json", "NatGateways[0].SubnetId", "subnet-000000000dead", "NatGateways[0].SubnetId: subnet-000000000dead is not a subnet of vpc-0a1b2c3d4e5f60718"},
		{"describe-nat-gateways.json", "NatGateways[0].State", "up", `NatGateways[0].State: "up" is not a NAT gateway state`},
		{"describe-nat-gateways.json", "NatGateways[0].ConnectivityType", "Public", `NatGateways[0].ConnectivityType: "Public" is neither public nor private`},
		{"describe-nat-gateways.json", "NatGateways[0].NatGatewayAddresses", []any{}, "NatGateways[0].NatGatewayAddresses: no primary address"},
		{"describe-addresses.json", "Addresses[0].NetworkInterfaceId", "eni-00000000000000dead", "Addresses[0].NetworkInterfaceId: eni-00000000000000dead is not in describe-network-interfaces.json"},
		{"describe-addresses.json", "Addresses[0].PrivateIpAddress", "10.0.1.9", "Addresses[0].PrivateIpAddress: 10.0.1.9 is not an address of eni-0000000000000000a"},
		{"describe-network-interfaces.json", "NetworkInterfaces[2].Association.AllocationId", "eipalloc-00000000000dead", "NetworkInterfaces[2].Association.AllocationId: Elastic IP eipalloc-00000000000dead (192.0.2.10) is not in describe-addresses.json as associated with eni-0000000000000000c"},
		{"describe-network-interfaces.json", "NetworkInterfaces[0].Association.PublicIp", "192.0.2", `NetworkInterfaces[0].Association.PublicIp: "192.0.2" is not an IP address`},
		{"describe-instances.json", "Reservations[0].Instances[0].PublicIpAddress", "192.0.2.99",
			"Reservations[0].Instances[0].PublicIpAddress: 192.0.2.99, but its primary interface eni-0000000000000000a has 192.0.2.4"},
		{"describe-instances.json", "Reservations[0].Instances[0].NetworkInterfaces[0].NetworkInterfaceId", "eni-00000000000000dead",
			"NetworkInterfaces[0].NetworkInterfaceId: eni-00000000000000dead is not in describe-network-interfaces.json"},
		{"describe-instances.json", "Reservations[0].Instances[0].NetworkInterfaces[0].NetworkInterfaceId", "eni-0000000000000000b",
			"NetworkInterfaces[0].NetworkInterfaceId: eni-0000000000000000b is attached to i-0000000000000000b in describe-network-interfaces.json"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.path, func(t *testing.T) {
			dir := copyValid(t)
			edit(t, dir, tt.file, func(v any) {
				if tt.value == nil {
					deletePath(t, v, tt.path)
					return
				}
				setPath(t, v, tt.path, tt.value)
			})
			_, err := Load(dir)
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error(); !strings.Contains(msg, filepath.Join(dir, tt.file)) || !strings.Contains(msg, tt.want) || strings.Contains(msg, "struct") {
				t.Errorf("error %q, want the file and %q", msg, tt.want)
			}
		})
	}
	t.Run("not JSON", func(t *testing.T) {
		dir := copyValid(t)
		os.WriteFile(filepath.Join(dir, "describe-vpcs.json"), []byte(`{"Vpcs": [`), 0o600)
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "describe-vpcs.json: not the JSON the AWS CLI writes") {
			t.Errorf("error %v", err)
		}
	})
}

// TestLoadTCPAllPorts keeps EC2's meaning of -1/-1 for tcp: every port.
func TestLoadTCPAllPorts(t *testing.T) {
	dir := copyValid(t)
	edit(t, dir, "describe-security-groups.json", func(v any) {
		setPath(t, v, "SecurityGroups[0].IpPermissions[0].FromPort", -1)
		setPath(t, v, "SecurityGroups[0].IpPermissions[0].ToPort", -1)
	})
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Groups[0].Ingress[0]; r.FromPort != 0 || r.ToPort != 65535 {
		t.Errorf("tcp -1/-1 read as %d-%d", r.FromPort, r.ToPort)
	}
}

func copyValid(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ents, err := os.ReadDir("testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata/valid", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// edit rewrites one JSON file of dir through f.
func edit(t *testing.T, dir, file string, f func(any)) {
	t.Helper()
	path := filepath.Join(dir, file)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	root := map[string]any{"": v} // so that the path "" names the whole document
	f(root)
	if b, err = json.Marshal(root[""]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

var step = regexp.MustCompile(`([A-Za-z0-9]+)|\[(\d+)\]`)

// walk resolves all but the last step of path ("A[0].B") in v (as wrapped by edit) and
// returns the container and the last key or index.
func walk(t *testing.T, v any, path string) (any, any) {
	t.Helper()
	steps := []any{""}
	for _, m := range step.FindAllStringSubmatch(path, -1) {
		if m[1] != "" {
			steps = append(steps, m[1])
		} else {
			i, _ := strconv.Atoi(m[2])
			steps = append(steps, i)
		}
	}
	cur := v
	for _, s := range steps[:len(steps)-1] {
		switch s := s.(type) {
		case string:
			cur = cur.(map[string]any)[s]
		case int:
			cur = cur.([]any)[s]
		}
		if cur == nil {
			t.Fatalf("%s: no such path in the test data", path)
		}
	}
	return cur, steps[len(steps)-1]
}

func deletePath(t *testing.T, v any, path string) {
	c, last := walk(t, v, path)
	m := c.(map[string]any)
	if _, ok := m[last.(string)]; !ok {
		t.Fatalf("%s: no such field in the test data", path)
	}
	delete(m, last.(string))
}

func setPath(t *testing.T, v any, path string, value any) {
	c, last := walk(t, v, path)
	switch k := last.(type) {
	case string:
		c.(map[string]any)[k] = value
	case int:
		c.([]any)[k] = value
	}
}
