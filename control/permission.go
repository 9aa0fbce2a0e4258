package control

import (
	"fmt"

	"github.com/stockade/stockade/model"
)

// Permission is one IpPermission of a request, as sent: a protocol, ports or ICMP type/code,
// and lists of peers. Each peer becomes one rule (spec §3.1).
type Permission struct {
	Protocol         string
	FromPort, ToPort int64
	HasFrom, HasTo   bool
	IPv4             []CIDRPeer
	IPv6             []CIDRPeer
	PrefixLists      []PrefixListPeer
	Groups           []GroupPeer
}

// CIDRPeer is an IpRange or Ipv6Range element.
type CIDRPeer struct {
	CIDR        string
	Description string
}

// PrefixListPeer is a PrefixListIds element.
type PrefixListPeer struct {
	ID          string
	Description string
}

// GroupPeer is a UserIdGroupPair (wire name Groups.N).
type GroupPeer struct {
	GroupID     string
	GroupName   string
	UserID      string
	VpcID       string
	Description string
}

// expand turns permissions into rules of group g in one direction: protocols and ports
// normalised, CIDRs canonical, referenced groups resolved. Rules get no IDs here.
func (tn *tenant) expand(g *model.Group, egress bool, perms []Permission) ([]model.Rule, error) {
	if len(perms) == 0 {
		return nil, model.Missing("IpPermissions")
	}
	var out []model.Rule
	for i, p := range perms {
		field := fmt.Sprintf("IpPermissions.%d", i+1)
		if p.Protocol == "" {
			return nil, model.Missing(field + ".IpProtocol")
		}
		proto, err := model.NormalizeProtocol(p.Protocol)
		if err != nil {
			return nil, err
		}
		from, to, err := model.NormalizePorts(proto, p.FromPort, p.ToPort, p.HasFrom, p.HasTo)
		if err != nil {
			return nil, err
		}
		base := model.Rule{Egress: egress, Protocol: proto, FromPort: from, ToPort: to}
		n := len(p.IPv4) + len(p.IPv6) + len(p.PrefixLists) + len(p.Groups)
		if n == 0 {
			return nil, model.MissingParameter.Errorf("%s must name at least one peer: an IP range, an IPv6 range, a prefix list or a security group", field)
		}
		add := func(peer model.Peer, desc string) error {
			if err := model.ValidateRuleDescription(desc); err != nil {
				return err
			}
			r := base
			r.Peer, r.Description = peer, desc
			out = append(out, r)
			return nil
		}
		for _, c := range p.IPv4 {
			cidr, err := model.ParseCIDR(c.CIDR, false, "CidrIp")
			if err != nil {
				return nil, err
			}
			if err := add(model.Peer{CIDR: cidr}, c.Description); err != nil {
				return nil, err
			}
		}
		for _, c := range p.IPv6 {
			cidr, err := model.ParseCIDR(c.CIDR, true, "CidrIpv6")
			if err != nil {
				return nil, err
			}
			if err := add(model.Peer{CIDR: cidr}, c.Description); err != nil {
				return nil, err
			}
		}
		for _, pl := range p.PrefixLists {
			peer, err := tn.prefixListPeer(pl.ID)
			if err != nil {
				return nil, err
			}
			if err := add(peer, pl.Description); err != nil {
				return nil, err
			}
		}
		for _, gp := range p.Groups {
			peer, err := tn.groupPeer(g, egress, gp)
			if err != nil {
				return nil, err
			}
			if err := add(peer, gp.Description); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// groupPeer resolves a UserIdGroupPair to a reference to a group of the same account and VPC.
func (tn *tenant) groupPeer(g *model.Group, egress bool, gp GroupPeer) (model.Peer, error) {
	if gp.UserID != "" && gp.UserID != tn.key.Account {
		// Cross-account references need VPC peering, which Stockade does not model; an
		// account's groups are invisible to others, so the group "does not exist".
		return model.Peer{}, model.InvalidGroupNotFound.New(firstNonEmpty(gp.GroupID, gp.GroupName))
	}
	var ref *model.Group
	var err error
	switch {
	case gp.GroupID != "":
		ref, err = tn.group(gp.GroupID)
	case gp.GroupName != "":
		if egress {
			return model.Peer{}, model.InvalidValue("Egress rules must name the referenced security group by GroupId, not GroupName.")
		}
		ref, err = tn.groupByName(gp.GroupName)
	default:
		return model.Peer{}, model.MissingParameter.Errorf("A security group peer must contain GroupId or GroupName")
	}
	if err != nil {
		return model.Peer{}, err
	}
	if ref.VpcID != g.VpcID {
		return model.Peer{}, model.InvalidGroupNotFound.Errorf("You have specified two resources that belong to different networks: security group '%s' is not in VPC '%s'.", ref.ID, g.VpcID)
	}
	return model.Peer{GroupID: ref.ID, UserID: ref.OwnerID, VpcID: ref.VpcID}, nil
}

// prefixListPeer resolves a reference to one of the account's prefix lists.
func (tn *tenant) prefixListPeer(id string) (model.Peer, error) {
	if _, err := tn.prefixList(id); err != nil {
		return model.Peer{}, err
	}
	return model.Peer{PrefixListID: id}, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
