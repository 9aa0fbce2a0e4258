package control

import (
	"context"
	"net/netip"
	"slices"

	"github.com/stockade/stockade/model"
)

// Elastic IPs (EC2 API "AllocateAddress", "AssociateAddress", "DisassociateAddress",
// "ReleaseAddress"). An Elastic IP is a public address from the server-wide pool (pool.go),
// held by one tenant until released, associated with at most one private IPv4 address of one
// interface. An interface's launch-time public address (model.NetworkInterface.PublicIP) is
// not an Elastic IP: it is released when an Elastic IP takes the interface's primary address,
// and a new one is given when that Elastic IP leaves again.

// AllocateAddressInput are AllocateAddress's parameters.
type AllocateAddressInput struct {
	Domain             string // "vpc" or empty
	Address            string // a specific public address to (re)allocate
	PublicIPv4Pool     string // "amazon" or empty
	NetworkBorderGroup string // the region or empty
	Tags               model.Tags
	DryRun             bool
}

// AllocateAddress allocates an Elastic IP from the public pool.
func (s *Service) AllocateAddress(ctx context.Context, t Tenant, in AllocateAddressInput) (*model.Address, Result, error) {
	switch in.Domain {
	case "", "vpc":
	case "standard":
		// [UNCONFIRMED] EC2-Classic is retired; EC2 refuses the standard domain for accounts
		// without it. The wording is Stockade's.
		return nil, Result{}, model.InvalidValue("Value (standard) for parameter domain is invalid. EC2-Classic is not supported; use vpc.")
	default:
		return nil, Result{}, model.InvalidValue("Value (%s) for parameter domain is invalid. Valid values: vpc, standard", in.Domain)
	}
	if in.PublicIPv4Pool != "" && in.PublicIPv4Pool != "amazon" {
		// [UNCONFIRMED] BYOIP pools do not exist here; the code EC2 uses for an unknown pool is
		// not confirmed.
		return nil, Result{}, model.InvalidValue("Value (%s) for parameter publicIpv4Pool is invalid. Only the amazon pool exists.", in.PublicIPv4Pool)
	}
	if in.NetworkBorderGroup != "" && in.NetworkBorderGroup != t.Region {
		return nil, Result{}, model.InvalidValue("Value (%s) for parameter networkBorderGroup is invalid. Valid values: %s", in.NetworkBorderGroup, t.Region)
	}
	var want netip.Addr
	if in.Address != "" {
		a, err := netip.ParseAddr(in.Address)
		if err != nil || !a.Is4() {
			return nil, Result{}, model.InvalidValue("Value (%s) for parameter address is invalid. It must be an IPv4 address.", in.Address)
		}
		want = a
	}
	var addr *model.Address
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		if len(tx.tn.addresses) >= s.cfg.Quotas.ElasticIPs {
			return model.AddressLimitExceeded.New()
		}
		id := model.NewID(model.PrefixAllocation)
		ip, err := tx.takePublic(id, want)
		if err != nil {
			return err
		}
		addr = &model.Address{AllocationID: id, PublicIP: ip, OwnerID: t.Account, Domain: "vpc", Tags: in.Tags}
		set(tx, tx.tn.addresses, kindAddress, id, addr)
		return nil
	})
	return addr, res, err
}

// AddressRef names an Elastic IP by allocation ID or by public address.
type AddressRef struct {
	AllocationID string
	PublicIP     string
}

// resolve finds the tenant's address; an address another account holds is AuthFailure, as EC2
// answers (EC2 API "ReleaseAddress").
func (tx *tx) resolveAddress(ref AddressRef) (*model.Address, error) {
	if ref.AllocationID != "" {
		return tx.tn.address(ref.AllocationID)
	}
	if ref.PublicIP == "" {
		return nil, model.Missing("AllocationId")
	}
	a, err := netip.ParseAddr(ref.PublicIP)
	if err != nil {
		return nil, model.InvalidValue("Value (%s) for parameter publicIp is invalid. It must be an IPv4 address.", ref.PublicIP)
	}
	if addr := tx.tn.addressByIP(a); addr != nil {
		return addr, nil
	}
	if r, held := tx.s.pool.holder(a); held && (r.Account != tx.tn.key.Account || r.Region != tx.tn.key.Region) {
		return nil, model.AuthFailure.New()
	}
	return nil, model.InvalidAddressNotFound.New(ref.PublicIP)
}

// ReleaseAddressInput are ReleaseAddress's parameters.
type ReleaseAddressInput struct {
	AddressRef
	NetworkBorderGroup string
	DryRun             bool
}

// ReleaseAddress returns an Elastic IP that is not associated to the pool.
func (s *Service) ReleaseAddress(ctx context.Context, t Tenant, in ReleaseAddressInput) (Result, error) {
	if in.NetworkBorderGroup != "" && in.NetworkBorderGroup != t.Region {
		return Result{}, model.InvalidValue("Value (%s) for parameter networkBorderGroup is invalid. Valid values: %s", in.NetworkBorderGroup, t.Region)
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		addr, err := tx.resolveAddress(in.AddressRef)
		if err != nil {
			return err
		}
		if addr.Associated() {
			// [UNCONFIRMED] wording; the code is EC2's (API reference "ReleaseAddress").
			return model.InvalidIPAddressInUse.Errorf("Address %s is in use.", addr.PublicIP)
		}
		set[model.Address](tx, tx.tn.addresses, kindAddress, addr.AllocationID, nil)
		tx.releasePublic(addr.PublicIP)
		return nil
	})
}

// AssociateAddressInput are AssociateAddress's parameters.
type AssociateAddressInput struct {
	AddressRef
	InstanceID         string
	ENIID              string
	PrivateIP          string // empty: the interface's primary address
	AllowReassociation bool
	DryRun             bool
}

// AssociateAddress associates an Elastic IP with a private address of an interface, named
// directly or as an instance's only interface, and returns the association ID.
func (s *Service) AssociateAddress(ctx context.Context, t Tenant, in AssociateAddressInput) (string, Result, error) {
	if in.InstanceID == "" && in.ENIID == "" {
		// [UNCONFIRMED] code and wording.
		return "", Result{}, model.InvalidParameterCombination.Errorf("Either an instance ID or a network interface ID must be specified.")
	}
	var private netip.Addr
	if in.PrivateIP != "" {
		a, err := netip.ParseAddr(in.PrivateIP)
		if err != nil || !a.Is4() {
			return "", Result{}, model.InvalidValue("Value (%s) for parameter privateIpAddress is invalid. It must be an IPv4 address.", in.PrivateIP)
		}
		private = a
	}
	var assocID string
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		addr, err := tx.resolveAddress(in.AddressRef)
		if err != nil {
			return err
		}
		eni, err := tx.associationTarget(in.InstanceID, in.ENIID)
		if err != nil {
			return err
		}
		if eni.IPv6Only() {
			// [UNCONFIRMED] code and wording: an Elastic IP maps to a private IPv4 address.
			return model.InvalidParameterCombination.Errorf("Network interface %s is in an IPv6-only subnet and has no private IPv4 address to associate an Elastic IP address with.", eni.ID)
		}
		if !private.IsValid() {
			private = eni.PrivateIP
		} else if private != eni.PrivateIP && !slices.Contains(eni.SecondaryIPs, private) {
			// [UNCONFIRMED] wording.
			return model.InvalidValue("The private IP address %s is not assigned to network interface %s.", private, eni.ID)
		}
		if !tx.tn.internetAttached(eni.VpcID) {
			return model.GatewayNotAttached.Errorf("Network %s is not attached to any internet gateway", eni.VpcID)
		}
		if addr.Associated() {
			if addr.ENIID == eni.ID && addr.PrivateIP == private {
				assocID = addr.AssociationID // already so: EC2 treats it as a no-op
				return nil
			}
			if !in.AllowReassociation || tx.tn.natGatewayOfENI(addr.ENIID) != nil {
				return model.ResourceAlreadyAssociated.Errorf("resource %s is already associated with associate-id %s", addr.AllocationID, addr.AssociationID)
			}
			if err := tx.disassociateAddress(addr); err != nil {
				return err
			}
			addr = tx.tn.addresses[addr.AllocationID]
		}
		// An Elastic IP already on that private address is replaced (it stays allocated).
		if old := tx.tn.addressOn(eni.ID, private); old != nil {
			if err := tx.disassociateAddress(old); err != nil {
				return err
			}
		}
		assocID = model.NewID(model.PrefixEIPAssoc)
		tx.associateAddress(addr, tx.tn.enis[eni.ID], private, assocID)
		return nil
	})
	return assocID, res, err
}

// associationTarget resolves AssociateAddress's InstanceId and NetworkInterfaceId to one
// interface.
func (tx *tx) associationTarget(instanceID, eniID string) (*model.NetworkInterface, error) {
	tn := tx.tn
	if eniID != "" {
		eni, err := tn.eni(eniID)
		if err != nil {
			return nil, err
		}
		if err := serviceManaged(eni); err != nil {
			return nil, err // the service associates its own addresses
		}
		if instanceID != "" && (eni.Attachment == nil || eni.Attachment.InstanceID != instanceID) {
			// [UNCONFIRMED] code and wording.
			return nil, model.InvalidParameterCombination.Errorf("Network interface %s is not attached to instance %s.", eni.ID, instanceID)
		}
		return eni, nil
	}
	inst, err := tn.instance(instanceID)
	if err != nil {
		return nil, err
	}
	if inst.State == model.StateTerminated {
		return nil, model.IncorrectInstanceState.Errorf("The instance '%s' is not in a valid state for this operation.", inst.ID)
	}
	var attached []*model.NetworkInterface
	for _, id := range inst.InterfaceIDs {
		if n := tn.enis[id]; n != nil && n.Attachment != nil && n.Attachment.InstanceID == inst.ID {
			attached = append(attached, n)
		}
	}
	if len(attached) != 1 {
		return nil, model.InvalidInstanceID.Errorf("There are multiple interfaces attached to instance '%s'. Please specify an interface ID for the operation instead.", inst.ID)
	}
	return attached[0], nil
}

// associateAddress stages addr's association with eni's private address, releasing the
// interface's launch-time public address when the primary address takes the Elastic IP.
func (tx *tx) associateAddress(addr *model.Address, eni *model.NetworkInterface, private netip.Addr, assocID string) {
	c := addr.Clone()
	c.AssociationID, c.ENIID, c.PrivateIP = assocID, eni.ID, private
	set(tx, tx.tn.addresses, kindAddress, c.AllocationID, c)
	if private == eni.PrivateIP && eni.PublicIP.IsValid() {
		e := eni.Clone()
		tx.releasePublic(e.PublicIP)
		e.PublicIP = netip.Addr{}
		set(tx, tx.tn.enis, kindENI, e.ID, e)
	}
}

// disassociate stages addr without its association; an interface that had a launch-time
// public address on that private address gets a new one, as on EC2.
func (tx *tx) disassociateAddress(addr *model.Address) error {
	eni := tx.tn.enis[addr.ENIID]
	c := addr.Clone()
	private := c.PrivateIP
	c.AssociationID, c.ENIID, c.PrivateIP = "", "", netip.Addr{}
	set(tx, tx.tn.addresses, kindAddress, c.AllocationID, c)
	// A stopped instance gets its new address when it starts (lifecycle.go), not now.
	if eni != nil && eni.PublicOnLaunch && private == eni.PrivateIP && eni.Attachment != nil && !eni.PublicIP.IsValid() &&
		!tx.tn.stoppedInstance(eni.Attachment.InstanceID) {
		ip, err := tx.takePublic(eni.ID, netip.Addr{})
		if err != nil {
			return err
		}
		e := eni.Clone()
		e.PublicIP = ip
		set(tx, tx.tn.enis, kindENI, e.ID, e)
	}
	return nil
}

// DisassociateAddressInput are DisassociateAddress's parameters.
type DisassociateAddressInput struct {
	AssociationID string
	PublicIP      string
	DryRun        bool
}

// DisassociateAddress ends an Elastic IP's association; the address stays allocated.
func (s *Service) DisassociateAddress(ctx context.Context, t Tenant, in DisassociateAddressInput) (Result, error) {
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		var addr *model.Address
		switch {
		case in.AssociationID != "":
			for _, a := range tx.tn.addresses {
				if a.AssociationID == in.AssociationID {
					addr = a
				}
			}
			if addr == nil {
				if !model.ValidID(model.PrefixEIPAssoc, in.AssociationID) {
					return model.InvalidAssociationIDMalformed.New(in.AssociationID)
				}
				return model.InvalidAssociationIDNotFound.New(in.AssociationID)
			}
		case in.PublicIP != "":
			a, err := tx.resolveAddress(AddressRef{PublicIP: in.PublicIP})
			if err != nil {
				return err
			}
			if !a.Associated() {
				// [UNCONFIRMED] EC2 answers a disassociation of an unassociated address by
				// public IP without an error; Stockade does the same.
				return nil
			}
			addr = a
		default:
			return model.Missing("AssociationId")
		}
		if tx.tn.natGatewayOfENI(addr.ENIID) != nil {
			// [UNCONFIRMED] code and wording: a NAT gateway's address leaves with the gateway.
			return model.OperationNotPermitted.Errorf("The Elastic IP address %s is in use by a NAT gateway; delete the NAT gateway to free it.", addr.PublicIP)
		}
		return tx.disassociateAddress(addr)
	})
}

// dropENIAddresses stages what deleting an interface does to its public addresses: its
// launch-time address goes back to the pool, Elastic IPs on it are disassociated (and stay
// allocated).
func (tx *tx) dropENIAddresses(eni *model.NetworkInterface) {
	tx.releasePublic(eni.PublicIP)
	for _, a := range tx.tn.addresses {
		if a.ENIID == eni.ID {
			c := a.Clone()
			c.AssociationID, c.ENIID, c.PrivateIP = "", "", netip.Addr{}
			set(tx, tx.tn.addresses, kindAddress, c.AllocationID, c)
		}
	}
}

// address returns an Elastic IP by allocation ID or EC2's malformed and not-found error.
func (tn *tenant) address(id string) (*model.Address, error) {
	return find(tn.addresses, id, model.PrefixAllocation, model.InvalidAllocationIDMalformed, model.InvalidAllocationIDNotFound)
}

func (tn *tenant) addressByIP(a netip.Addr) *model.Address {
	for _, addr := range tn.addresses {
		if addr.PublicIP == a {
			return addr
		}
	}
	return nil
}

// addressOn returns the Elastic IP associated with a private address of an interface, or nil.
func (tn *tenant) addressOn(eniID string, private netip.Addr) *model.Address {
	for _, a := range tn.addresses {
		if a.ENIID == eniID && a.PrivateIP == private {
			return a
		}
	}
	return nil
}

// internetAttached reports whether an internet gateway is attached to the VPC: AWS refuses to
// associate an Elastic IP in a VPC without one (Gateway.NotAttached), and a public NAT gateway
// there fails.
func (tn *tenant) internetAttached(vpcID string) bool {
	for _, g := range tn.igws {
		if g.VpcID == vpcID {
			return true
		}
	}
	return false
}

// mappedPublic reports whether a public address is mapped to an interface of the VPC: an
// Elastic IP's association or a launch-time public address.
func (tn *tenant) mappedPublic(vpcID string) bool {
	for _, a := range tn.addresses {
		if e := tn.enis[a.ENIID]; a.Associated() && e != nil && e.VpcID == vpcID {
			return true
		}
	}
	for _, e := range tn.enis {
		if e.VpcID == vpcID && e.PublicIP.IsValid() {
			return true
		}
	}
	return false
}

// Addresses returns every Elastic IP, sorted by allocation ID.
func (v View) Addresses() []*model.Address {
	return sorted(v.tn.addresses, func(x *model.Address) string { return x.AllocationID })
}

// Address returns an Elastic IP by allocation ID or EC2's errors.
func (v View) Address(id string) (*model.Address, error) { return v.tn.address(id) }

// AddressByIP returns an Elastic IP by public address or EC2's not-found error.
func (v View) AddressByIP(ip string) (*model.Address, error) {
	if a, err := netip.ParseAddr(ip); err == nil {
		if addr := v.tn.addressByIP(a); addr != nil {
			return addr, nil
		}
	}
	return nil, model.InvalidAddressNotFound.New(ip)
}

// AddressesOn returns the Elastic IPs associated with an interface, sorted by allocation ID.
func (v View) AddressesOn(eniID string) []*model.Address {
	var out []*model.Address
	for _, a := range v.Addresses() {
		if a.ENIID == eniID {
			out = append(out, a)
		}
	}
	return out
}
