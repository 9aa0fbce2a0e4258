package control

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"slices"

	"github.com/stockade/stockade/model"
)

// CreateENIInput are CreateNetworkInterface's parameters.
type CreateENIInput struct {
	SubnetID       string
	Groups         []string // empty: the VPC's default group
	Description    string
	PrivateIP      string // empty: the lowest free address
	SecondaryCount int
	IPv6           []string // IPv6 addresses asked for by address
	IPv6Count      int      // or by number (the lowest free ones)
	// EnablePrimaryIPv6 makes the first IPv6 address the interface's primary IPv6 address
	// (one is assigned when none is asked for).
	EnablePrimaryIPv6 bool
	// ConnTrack are the idle timeouts; nil keeps AWS's defaults.
	ConnTrack   *model.ConnTrack
	Tags        model.Tags
	ClientToken string
	DryRun      bool
}

// CreateENI creates a network interface in a subnet (spec §9.3).
func (s *Service) CreateENI(ctx context.Context, t Tenant, in CreateENIInput) (*model.NetworkInterface, Result, error) {
	if in.SubnetID == "" {
		return nil, Result{}, model.Missing("SubnetId")
	}
	if err := model.ValidateFreeText("Description", in.Description, 255); err != nil {
		return nil, Result{}, err
	}
	var eni *model.NetworkInterface
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		fp := fingerprint("CreateNetworkInterface", in)
		if ids, done, err := tx.replay("CreateNetworkInterface", in.ClientToken, fp); err != nil || done {
			if err == nil {
				eni, err = tx.tn.eni(ids[0])
			}
			return err
		}
		sn, err := tx.tn.subnet(in.SubnetID)
		if err != nil {
			return err
		}
		addrs := addrRequest{private: in.PrivateIP, secondary: in.SecondaryCount, ipv6: in.IPv6, ipv6Count: in.IPv6Count, primary6: in.EnablePrimaryIPv6}
		eni, err = s.newENI(tx, sn, in.Groups, addrs, in.ConnTrack, in.Description, in.Tags)
		if err != nil {
			return err
		}
		set(tx, tx.tn.enis, kindENI, eni.ID, eni)
		tx.remember("CreateNetworkInterface", in.ClientToken, fp, eni.ID)
		return nil
	})
	return eni, res, err
}

// addrRequest is the addresses a new interface asks for: a primary private IPv4 address
// (empty: the lowest free one), a number of secondary ones, and IPv6 addresses, given or
// counted, the first of them its primary IPv6 address if primary6.
type addrRequest struct {
	private   string
	secondary int
	ipv6      []string
	ipv6Count int
	primary6  bool
}

// maxAddrs is how many secondary IPv4, and how many IPv6, addresses one interface may have
// (EC2's limit depends on the instance type; this is the largest types' 50 less the primary).
const maxAddrs = 49

// newENI builds (without storing) an interface: groups checked, address allocated, MAC chosen.
func (s *Service) newENI(tx *tx, sn *model.Subnet, groups []string, addrs addrRequest, ct *model.ConnTrack, desc string, tags model.Tags) (*model.NetworkInterface, error) {
	ip, secondary := addrs.private, addrs.secondary
	if len(tx.tn.enis) >= s.cfg.Quotas.NetworkInterfaces {
		return nil, model.NetworkInterfaceLimitExceeded.New()
	}
	gs, err := s.checkGroups(tx.tn, sn.VpcID, sn.ID, groups)
	if err != nil {
		return nil, err
	}
	conn := mergeConnTrack(model.DefaultConnTrack, ct)
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	if secondary < 0 || secondary > maxAddrs {
		return nil, model.InvalidValue("Value (%d) for parameter secondaryPrivateIpAddressCount is invalid.", secondary)
	}
	if sn.IPv6Native {
		if err := ipv6OnlyRefuses(sn, ip, secondary); err != nil {
			return nil, err
		}
		if len(addrs.ipv6) == 0 && addrs.ipv6Count == 0 {
			addrs.ipv6Count = 1 // its primary address: an IPv6-only interface always has one
		}
	}
	used := tx.tn.usedAddrs(sn.ID)
	var primary netip.Addr
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			return nil, model.InvalidValue("Value (%s) for parameter privateIpAddress is invalid. It must be an IPv4 address.", ip)
		}
		if !sn.Usable(a) {
			return nil, model.InvalidValue("Address %s does not fall within the subnet's address range, or is one of the five addresses AWS reserves in every subnet.", ip)
		}
		if used[a] {
			return nil, model.InvalidIPAddressInUse.Errorf("Address %s is in use.", ip)
		}
		primary = a
		used[a] = true
	}
	alloc := func() (netip.Addr, error) {
		for i := 4; i < sn.Size()-1; i++ {
			if a := sn.AddrAt(i); !used[a] && !tx.tn.reserved(sn.ID, a) { // reservations.go: reserved addresses are only given on request
				used[a] = true
				return a, nil
			}
		}
		return netip.Addr{}, model.InsufficientFreeAddressesInSubnet.Errorf("The specified subnet %s does not have enough free addresses to satisfy the request.", sn.ID)
	}
	if !primary.IsValid() && !sn.IPv6Native {
		if primary, err = alloc(); err != nil {
			return nil, err
		}
	}
	n := &model.NetworkInterface{
		ID: model.NewID(model.PrefixENI), SubnetID: sn.ID, VpcID: sn.VpcID, AZ: sn.AZ, OwnerID: tx.tn.key.Account,
		Description: desc, Groups: gs, MAC: tx.tn.newMAC(), PrivateIP: primary, SourceDestCheck: true, ConnTrack: conn, Tags: tags,
	}
	for i := 0; i < secondary; i++ {
		a, err := alloc()
		if err != nil {
			return nil, err
		}
		n.SecondaryIPs = append(n.SecondaryIPs, a)
	}
	if (sn.AssignIPv6 || addrs.primary6) && len(addrs.ipv6) == 0 && addrs.ipv6Count == 0 {
		// AssignIpv6AddressOnCreation, or EnablePrimaryIpv6 ("AWS will automatically assign
		// an IPv6 address"): one IPv6 address unless others are asked for.
		addrs.ipv6Count = 1
	}
	reserved := func(a netip.Addr) bool { return tx.tn.reserved(sn.ID, a) }
	if n.IPv6, err = ipv6Addrs(sn, addrs, used, reserved); err != nil {
		return nil, err
	}
	n.PrimaryIPv6 = addrs.primary6
	return n, nil
}

// ipv6OnlyRefuses refuses the IPv4 parameters of an interface in an IPv6-only subnet, which
// has no IPv4 block to take them from. [UNCONFIRMED] code and wording: the VPC User Guide
// ("IPv6-only subnets") says only that such interfaces have no private IPv4 address.
func ipv6OnlyRefuses(sn *model.Subnet, private string, secondary int) error {
	switch {
	case private != "":
		return model.InvalidParameterCombination.Errorf("Subnet %s is an IPv6-only subnet: a private IPv4 address (privateIpAddress %s) cannot be assigned in it.", sn.ID, private)
	case secondary > 0:
		return model.InvalidParameterCombination.Errorf("Subnet %s is an IPv6-only subnet: secondary private IPv4 addresses (secondaryPrivateIpAddressCount) cannot be assigned in it.", sn.ID)
	}
	return nil
}

// ipv6Addrs gives an interface the IPv6 addresses it asks for, by address or by number (the
// lowest free ones of the subnet's /64 not reserved), marking them used.
func ipv6Addrs(sn *model.Subnet, addrs addrRequest, used map[netip.Addr]bool, reserved func(netip.Addr) bool) ([]netip.Addr, error) {
	switch {
	case len(addrs.ipv6) == 0 && addrs.ipv6Count == 0:
		return nil, nil
	case len(addrs.ipv6) > 0 && addrs.ipv6Count > 0:
		return nil, model.InvalidParameterCombination.Errorf("Specify either IPv6 addresses or an IPv6 address count, not both.")
	case addrs.ipv6Count < 0 || addrs.ipv6Count > maxAddrs+1 || len(addrs.ipv6) > maxAddrs+1:
		return nil, model.InvalidValue("Value (%d) for parameter ipv6AddressCount is invalid: an interface has at most %d IPv6 addresses.", max(addrs.ipv6Count, len(addrs.ipv6)), maxAddrs+1)
	case !sn.IPv6CIDR.IsValid():
		return nil, model.InvalidValue("Subnet %s has no IPv6 CIDR block, so its interfaces cannot have IPv6 addresses.", sn.ID)
	}
	var out []netip.Addr
	for _, s := range addrs.ipv6 {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			return nil, model.InvalidValue("Value (%s) for parameter ipv6Addresses is invalid. It must be an IPv6 address.", s)
		}
		if !sn.Usable6(a) {
			return nil, model.InvalidValue("Address %s does not fall within the IPv6 range of subnet %s, or is one of the five addresses AWS reserves in it.", s, sn.ID)
		}
		if used[a] {
			return nil, model.InvalidIPAddressInUse.Errorf("Address %s is in use.", a)
		}
		used[a] = true
		out = append(out, a)
	}
	for i := uint64(4); len(out) < addrs.ipv6Count; i++ {
		if a := sn.AddrAt6(i); !used[a] && !reserved(a) {
			used[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// checkGroups resolves an interface's group list: the VPC's default group when empty,
// duplicates folded, each group existing and in the interface's VPC, within the quota.
func (s *Service) checkGroups(tn *tenant, vpcID, subnetID string, groups []string) ([]string, error) {
	if len(groups) == 0 {
		vpc, err := tn.vpc(vpcID)
		if err != nil {
			return nil, err
		}
		return []string{vpc.DefaultGroupID}, nil
	}
	var out []string
	for _, id := range groups {
		if slices.Contains(out, id) {
			continue
		}
		g, err := tn.group(id)
		if err != nil {
			return nil, err
		}
		if g.VpcID != vpcID {
			return nil, model.InvalidParameter.Errorf("Security group %s and subnet %s belong to different networks.", id, subnetID)
		}
		out = append(out, id)
	}
	if len(out) > s.cfg.Quotas.GroupsPerInterface {
		return nil, model.SecurityGroupsPerInterfaceLimitExceeded.New()
	}
	return out, nil
}

// newMAC returns a random locally administered unicast MAC address unused in the tenant.
func (tn *tenant) newMAC() string {
	for {
		var b [6]byte
		rand.Read(b[:]) // never fails (crypto/rand)
		b[0] = 0x02
		mac := fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
		if !slices.ContainsFunc(mapValues(tn.enis), func(n *model.NetworkInterface) bool { return n.MAC == mac }) {
			return mac
		}
	}
}

func mapValues[T any](m map[string]*T) []*T {
	out := make([]*T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// mergeConnTrack returns base with the timeouts ct sets: a field left 0 keeps base's value
// (AWS's defaults on create, the current value on modify).
func mergeConnTrack(base model.ConnTrack, ct *model.ConnTrack) model.ConnTrack {
	if ct == nil {
		return base
	}
	for _, f := range []struct{ dst, src *int }{{&base.TCPEstablished, &ct.TCPEstablished}, {&base.UDPStream, &ct.UDPStream}, {&base.UDP, &ct.UDP}} {
		if *f.src != 0 {
			*f.dst = *f.src
		}
	}
	return base
}

// DeleteENI deletes an interface that is not attached.
func (s *Service) DeleteENI(ctx context.Context, t Tenant, in IDInput) (Result, error) {
	id := in.ID
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		n, err := tx.tn.eni(id)
		if err != nil {
			return err
		}
		// A service's interface is in use by the service (attached to it on AWS) until the
		// service lets it go: a NAT gateway's goes with the gateway (EC2 user guide,
		// "Requester-managed network interfaces").
		if n.Attachment != nil || n.RequesterManaged {
			return model.InvalidValue("Network interface '%s' is currently in use.", id)
		}
		tx.dropENIAddresses(n)
		tx.dropFlowLogs(id)
		set[model.NetworkInterface](tx, tx.tn.enis, kindENI, id, nil)
		return nil
	})
}

// ModifyENIInput are ModifyNetworkInterfaceAttribute's parameters: exactly one attribute.
type ModifyENIInput struct {
	ID                  string
	Groups              []string // replaces the whole set
	Description         *string
	SourceDestCheck     *bool
	ConnTrack           *model.ConnTrack
	DeleteOnTermination *bool
	AttachmentID        string
	// EnablePrimaryIPv6 true makes the first IPv6 address primary; false is refused once it is.
	EnablePrimaryIPv6 *bool
	DryRun            bool
}

// ModifyENI changes one attribute of an interface; Groups replaces the set (spec §11.21).
func (s *Service) ModifyENI(ctx context.Context, t Tenant, in ModifyENIInput) (Result, error) {
	if err := exactlyOne(len(in.Groups) > 0, in.Description != nil, in.SourceDestCheck != nil, in.ConnTrack != nil, in.DeleteOnTermination != nil,
		in.EnablePrimaryIPv6 != nil); err != nil {
		return Result{}, err
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		old, err := tx.tn.ownENI(in.ID)
		if err != nil {
			return err
		}
		c := old.Clone()
		switch {
		case len(in.Groups) > 0:
			if c.Groups, err = s.checkGroups(tx.tn, c.VpcID, c.SubnetID, in.Groups); err != nil {
				return err
			}
		case in.Description != nil:
			if err := model.ValidateFreeText("Description", *in.Description, 255); err != nil {
				return err
			}
			c.Description = *in.Description
		case in.SourceDestCheck != nil:
			c.SourceDestCheck = *in.SourceDestCheck
		case in.ConnTrack != nil:
			c.ConnTrack = mergeConnTrack(c.ConnTrack, in.ConnTrack)
			if err := c.ConnTrack.Validate(); err != nil {
				return err
			}
		case in.DeleteOnTermination != nil:
			if in.AttachmentID == "" {
				return model.Missing("Attachment.AttachmentId")
			}
			if c.Attachment == nil || in.AttachmentID != c.Attachment.ID {
				return model.InvalidAttachmentIDNotFound.New(in.AttachmentID)
			}
			c.Attachment.DeleteOnTermination = *in.DeleteOnTermination
		case in.EnablePrimaryIPv6 != nil:
			if err := enablePrimaryIPv6(c, *in.EnablePrimaryIPv6); err != nil {
				return err
			}
		}
		set(tx, tx.tn.enis, kindENI, c.ID, c)
		return nil
	})
}

// enablePrimaryIPv6 sets EnablePrimaryIpv6 on an interface: its first IPv6 address becomes
// its primary IPv6 address, which needs one; once enabled it cannot be disabled.
// [UNCONFIRMED] codes and wording.
func enablePrimaryIPv6(n *model.NetworkInterface, on bool) error {
	switch {
	case !on && n.PrimaryIPv6:
		return model.InvalidParameterCombination.Errorf("The primary IPv6 address of network interface %s cannot be disabled once enabled.", n.ID)
	case on && len(n.IPv6) == 0:
		return model.InvalidParameterCombination.Errorf("Network interface %s has no IPv6 address to make its primary IPv6 address.", n.ID)
	}
	n.PrimaryIPv6 = n.PrimaryIPv6 || on
	return nil
}

// exactlyOne enforces EC2's one-attribute-per-call rule of the Modify*Attribute actions.
func exactlyOne(given ...bool) error {
	n := 0
	for _, g := range given {
		if g {
			n++
		}
	}
	switch {
	case n == 0:
		return model.MissingParameter.Errorf("The request must contain exactly one attribute to modify")
	case n > 1:
		return model.InvalidParameterCombination.Errorf("Only one attribute may be modified at a time")
	}
	return nil
}

// eni returns an interface or EC2's malformed and not-found errors.
func (tn *tenant) eni(id string) (*model.NetworkInterface, error) {
	return find(tn.enis, id, model.PrefixENI, model.InvalidNetworkInterfaceIDMalformed, model.InvalidNetworkInterfaceIDNotFound)
}
