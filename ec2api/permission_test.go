package ec2api

import (
	"net/netip"
	"testing"

	"github.com/stockade/stockade/model"
)

// TestWritePermissionsRegroups: rules become one IpPermission per protocol and port range, in
// order of first appearance, each with its peers in the rules' order and by kind.
func TestWritePermissionsRegroups(t *testing.T) {
	cidr := func(s string) model.Peer { return model.Peer{CIDR: netip.MustParsePrefix(s)} }
	g := &model.Group{ID: "sg-1", VpcID: "vpc-1", OwnerID: "111122223333"}
	rules := []model.Rule{
		{Protocol: "udp", FromPort: 53, ToPort: 53, Peer: cidr("10.0.0.0/8")},
		{Protocol: "tcp", FromPort: 22, ToPort: 22, Peer: cidr("10.1.0.0/16"), Description: "a & b"},
		{Protocol: "udp", FromPort: 53, ToPort: 53, Peer: model.Peer{GroupID: "sg-2", UserID: "111122223333", VpcID: "vpc-1"}},
		{Protocol: "tcp", FromPort: 22, ToPort: 22, Peer: cidr("2001:db8::/32")},
		{Protocol: "udp", FromPort: 53, ToPort: 53, Peer: cidr("192.168.0.0/16")},
		{Protocol: "-1", FromPort: -1, ToPort: -1, Peer: model.Peer{PrefixListID: "pl-1"}},
	}
	var x xmlWriter
	writePermissions(&x, "ipPermissions", g, rules)
	want := `<ipPermissions>` +
		`<item><ipProtocol>udp</ipProtocol><fromPort>53</fromPort><toPort>53</toPort>` +
		`<groups><item><userId>111122223333</userId><groupId>sg-2</groupId></item></groups>` +
		`<ipRanges><item><cidrIp>10.0.0.0/8</cidrIp></item><item><cidrIp>192.168.0.0/16</cidrIp></item></ipRanges>` +
		`<ipv6Ranges/><prefixListIds/></item>` +
		`<item><ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort><groups/>` +
		`<ipRanges><item><cidrIp>10.1.0.0/16</cidrIp><description>a &amp; b</description></item></ipRanges>` +
		`<ipv6Ranges><item><cidrIpv6>2001:db8::/32</cidrIpv6></item></ipv6Ranges><prefixListIds/></item>` +
		`<item><ipProtocol>-1</ipProtocol><groups/><ipRanges/><ipv6Ranges/>` +
		`<prefixListIds><item><prefixListId>pl-1</prefixListId></item></prefixListIds></item>` +
		`</ipPermissions>`
	if got := string(x.b); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	x.b = nil
	writePermissions(&x, "ipPermissionsEgress", g, nil)
	if got := string(x.b); got != "<ipPermissionsEgress/>" {
		t.Errorf("no rules: %s", got)
	}
}
