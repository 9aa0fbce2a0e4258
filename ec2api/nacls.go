package ec2api

import (
	"strconv"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

func createNetworkAcl(c *call) error {
	tags, err := tagsFor(c.req, "network-acl")
	if err != nil {
		return err
	}
	n, res, err := c.svc().CreateNACL(c.ctx, c.tenant, control.CreateNACLInput{VpcID: str(c.req, "VpcId"), Tags: tags, ClientToken: str(c.req, "ClientToken"), DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	c.written(res).elem("networkAcl", func() { writeNACL(&c.out, n) })
	c.out.opt("clientToken", str(c.req, "ClientToken"))
	return nil
}

var deleteNetworkAcl = deleteByID("NetworkAclId", (*control.Service).DeleteNACL)

func (c *call) naclEntryInput() (control.NACLEntryInput, error) {
	r := c.req
	in := control.NACLEntryInput{ACLID: str(r, "NetworkAclId"), Protocol: str(r, "Protocol"), Action: str(r, "RuleAction"),
		CIDR: str(r, "CidrBlock"), IPv6CIDR: str(r, "Ipv6CidrBlock"), DryRun: c.dryRun()}
	var err error
	if in.RuleNumber, in.HasRuleNumber, err = optInt(r, "RuleNumber"); err != nil {
		return in, err
	}
	if in.Egress, _, err = optBool(r, "Egress"); err != nil {
		return in, err
	}
	if in.PortFrom, in.HasFrom, err = optInt(r, "PortRange.From"); err != nil {
		return in, err
	}
	if in.PortTo, in.HasTo, err = optInt(r, "PortRange.To"); err != nil {
		return in, err
	}
	if in.ICMPType, in.HasType, err = optInt(r, "Icmp.Type"); err != nil {
		return in, err
	}
	in.ICMPCode, in.HasCode, err = optInt(r, "Icmp.Code")
	return in, err
}

func createNetworkAclEntry(c *call) error {
	in, err := c.naclEntryInput()
	if err != nil {
		return err
	}
	return c.returned(c.svc().CreateNACLEntry(c.ctx, c.tenant, in))
}

func replaceNetworkAclEntry(c *call) error {
	in, err := c.naclEntryInput()
	if err != nil {
		return err
	}
	return c.returned(c.svc().ReplaceNACLEntry(c.ctx, c.tenant, in))
}

func deleteNetworkAclEntry(c *call) error {
	n, ok, err := optInt(c.req, "RuleNumber")
	if err != nil {
		return err
	}
	if !ok {
		return model.Missing("RuleNumber")
	}
	egress, _, err := optBool(c.req, "Egress")
	if err != nil {
		return err
	}
	return c.returned(c.svc().DeleteNACLEntry(c.ctx, c.tenant, control.DeleteNACLEntryInput{NACLID: str(c.req, "NetworkAclId"), Number: n, Egress: egress, DryRun: c.dryRun()}))
}

func replaceNetworkAclAssociation(c *call) error {
	id, res, err := c.svc().ReplaceNACLAssociation(c.ctx, c.tenant, control.ReplaceNACLAssociationInput{AssociationID: str(c.req, "AssociationId"), NACLID: str(c.req, "NetworkAclId"), DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.str("newAssociationId", id)
	return nil
}

func entryValues(n *model.NACL, f func(e model.NACLEntry) (string, bool)) []string {
	var out []string
	for _, e := range n.Entries {
		if v, ok := f(e); ok {
			out = append(out, v)
		}
	}
	return out
}

var naclFilters = filterer[*model.NACL]{
	fields: fields[*model.NACL]{
		"network-acl-id": one2(func(n *model.NACL) string { return n.ID }),
		"vpc-id":         one2(func(n *model.NACL) string { return n.VpcID }),
		"owner-id":       one2(func(n *model.NACL) string { return n.OwnerID }),
		"default":        one2(func(n *model.NACL) string { return boolStr(n.Default) }),
		"association.association-id": func(n *model.NACL) []string {
			var out []string
			for _, a := range n.Assocs {
				out = append(out, a.ID)
			}
			return out
		},
		"association.subnet-id": func(n *model.NACL) []string {
			var out []string
			for _, a := range n.Assocs {
				out = append(out, a.SubnetID)
			}
			return out
		},
		"association.network-acl-id": func(n *model.NACL) []string {
			if len(n.Assocs) > 0 {
				return one(n.ID)
			}
			return nil
		},
		"entry.cidr": func(n *model.NACL) []string {
			return entryValues(n, func(e model.NACLEntry) (string, bool) { return e.CIDR.String(), e.CIDR.Addr().Is4() })
		},
		"entry.ipv6-cidr": func(n *model.NACL) []string {
			return entryValues(n, func(e model.NACLEntry) (string, bool) { return e.CIDR.String(), e.CIDR.Addr().Is6() })
		},
		"entry.egress": func(n *model.NACL) []string {
			return entryValues(n, func(e model.NACLEntry) (string, bool) { return boolStr(e.Egress), true })
		},
		"entry.protocol": func(n *model.NACL) []string {
			return entryValues(n, func(e model.NACLEntry) (string, bool) { return e.Protocol, true })
		},
		"entry.rule-action": func(n *model.NACL) []string {
			return entryValues(n, func(e model.NACLEntry) (string, bool) { return action(e), true })
		},
		"entry.rule-number": func(n *model.NACL) []string {
			return entryValues(n, func(e model.NACLEntry) (string, bool) { return strconv.Itoa(e.RuleNumber), true })
		},
		"entry.port-range.from": func(n *model.NACL) []string {
			return entryValues(n, func(e model.NACLEntry) (string, bool) { return strconv.Itoa(int(e.FromPort)), e.HasPorts })
		},
		"entry.port-range.to": func(n *model.NACL) []string {
			return entryValues(n, func(e model.NACLEntry) (string, bool) { return strconv.Itoa(int(e.ToPort)), e.HasPorts })
		},
		"entry.icmp.type": func(n *model.NACL) []string {
			return entryValues(n, func(e model.NACLEntry) (string, bool) { return strconv.Itoa(int(e.ICMPType)), e.HasICMP })
		},
		"entry.icmp.code": func(n *model.NACL) []string {
			return entryValues(n, func(e model.NACLEntry) (string, bool) { return strconv.Itoa(int(e.ICMPCode)), e.HasICMP })
		},
	},
	tagsOf: func(n *model.NACL) model.Tags { return n.Tags },
}

func action(e model.NACLEntry) string {
	if e.Allow {
		return "allow"
	}
	return "deny"
}

var describeNetworkAcls = describeSpec[*model.NACL]{
	IDs:     []string{"NetworkAclId"},
	From:    func(_ *call, v control.View) source[*model.NACL] { return src(v.NACLs, v.NACL) },
	Filters: naclFilters,
	Key:     func(n *model.NACL) string { return n.ID },
	Set:     "networkAclSet",
	Item:    func(c *call, n *model.NACL) { writeNACL(&c.out, n) },
}

func writeNACL(x *xmlWriter, n *model.NACL) {
	x.str("networkAclId", n.ID)
	x.str("vpcId", n.VpcID)
	x.bool("default", n.Default)
	x.open("entrySet")
	for _, e := range control.SortedEntries(n) {
		x.open("item")
		x.int("ruleNumber", int64(e.RuleNumber))
		x.str("protocol", e.Protocol)
		x.str("ruleAction", action(e))
		x.bool("egress", e.Egress)
		if e.CIDR.Addr().Is6() {
			x.str("ipv6CidrBlock", e.CIDR.String())
		} else {
			x.str("cidrBlock", e.CIDR.String())
		}
		if e.HasICMP {
			x.open("icmpTypeCode")
			x.int("code", int64(e.ICMPCode))
			x.int("type", int64(e.ICMPType))
			x.close("icmpTypeCode")
		}
		if e.HasPorts {
			x.open("portRange")
			x.int("from", int64(e.FromPort))
			x.int("to", int64(e.ToPort))
			x.close("portRange")
		}
		x.close("item")
	}
	x.close("entrySet")
	if len(n.Assocs) == 0 {
		x.empty("associationSet")
	} else {
		x.open("associationSet")
		for _, a := range n.Assocs {
			x.open("item")
			x.str("networkAclAssociationId", a.ID)
			x.str("networkAclId", n.ID)
			x.str("subnetId", a.SubnetID)
			x.close("item")
		}
		x.close("associationSet")
	}
	writeTags(x, n.Tags)
	x.str("ownerId", n.OwnerID)
}
