package control

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/stockade/stockade/model"
)

// DHCP option sets (CreateDhcpOptions, AssociateDhcpOptions, DeleteDhcpOptions). Every
// region of an account has a default set, made with its default VPC and given to every new
// VPC; a set in use by a VPC cannot be deleted (DependencyViolation). Stockade keeps the sets
// for clients that read them back; the lab gives instances no DNS configuration from them
// (it has no VPC resolver).

// dhcpKeys are the options a set may have, with the check of their values ("Amazon VPC
// User Guide", DHCP option concepts). [UNCONFIRMED] the messages of the refusals.
var dhcpKeys = map[string]func(vs []string) bool{
	"domain-name":          func(vs []string) bool { return len(vs) == 1 && vs[0] != "" },
	"domain-name-servers":  func(vs []string) bool { return dhcpAddrs(vs, "AmazonProvidedDNS") },
	"ntp-servers":          func(vs []string) bool { return dhcpAddrs(vs, "") },
	"netbios-name-servers": func(vs []string) bool { return dhcpAddrs(vs, "") },
	"netbios-node-type": func(vs []string) bool {
		return len(vs) == 1 && slices.Contains([]string{"1", "2", "4", "8"}, vs[0])
	},
	"ipv6-address-preferred-lease-time": func(vs []string) bool {
		n, err := strconv.ParseInt(strings.TrimSpace(firstOf(vs)), 10, 64)
		return len(vs) == 1 && err == nil && n >= 140 && n <= 2147483647
	},
}

// dhcpAddrs reports whether vs are one to four IP addresses, or the single keyword (when given).
func dhcpAddrs(vs []string, keyword string) bool {
	if len(vs) == 0 || len(vs) > 4 {
		return false
	}
	for _, v := range vs {
		if _, err := netip.ParseAddr(v); err != nil && (keyword == "" || v != keyword) {
			return false
		}
	}
	return true
}

func firstOf(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// CreateDhcpOptionsInput are CreateDhcpOptions' parameters.
type CreateDhcpOptionsInput struct {
	Config []model.DhcpConfig
	Tags   model.Tags
	DryRun bool
}

// CreateDhcpOptions creates an option set.
func (s *Service) CreateDhcpOptions(ctx context.Context, t Tenant, in CreateDhcpOptionsInput) (*model.DhcpOptions, Result, error) {
	if len(in.Config) == 0 {
		return nil, Result{}, model.Missing("DhcpConfiguration")
	}
	cfg := map[string][]string{}
	for _, c := range in.Config {
		check := dhcpKeys[c.Key]
		if check == nil {
			return nil, Result{}, model.InvalidValue("Value (%s) for parameter dhcpConfiguration.key is invalid. Unknown DHCP option.", c.Key)
		}
		if _, dup := cfg[c.Key]; dup {
			return nil, Result{}, model.InvalidValue("Value (%s) for parameter dhcpConfiguration.key is invalid. The option is given twice.", c.Key)
		}
		if !check(c.Values) {
			return nil, Result{}, model.InvalidValue("Value (%s) for parameter %s is invalid.", strings.Join(c.Values, ","), c.Key)
		}
		cfg[c.Key] = c.Values
	}
	var d *model.DhcpOptions
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		if len(tx.tn.dhcpOptions) >= s.cfg.Quotas.DhcpOptionSets {
			return model.DhcpOptionsLimitExceeded.New()
		}
		d = &model.DhcpOptions{ID: model.NewID(model.PrefixDhcpOptions), OwnerID: tx.tn.key.Account, Tags: in.Tags}
		for _, k := range slices.Sorted(maps.Keys(cfg)) {
			d.Config = append(d.Config, model.DhcpConfig{Key: k, Values: cfg[k]})
		}
		set(tx, tx.tn.dhcpOptions, kindDhcp, d.ID, d)
		return nil
	})
	return d, res, err
}

// defaultDhcpOptions returns the region's default set, creating it when the tenant has none
// (a new tenant, or one whose default set was deleted or predates option sets).
func (tx *tx) defaultDhcpOptions() *model.DhcpOptions {
	for _, d := range sorted(tx.tn.dhcpOptions, func(x *model.DhcpOptions) string { return x.ID }) {
		if d.Default {
			return d
		}
	}
	domain := tx.tn.key.Region + ".compute.internal"
	if tx.tn.key.Region == "us-east-1" {
		domain = "ec2.internal" // us-east-1 keeps its historical name (DHCP option sets, VPC User Guide)
	}
	d := &model.DhcpOptions{ID: model.NewID(model.PrefixDhcpOptions), OwnerID: tx.tn.key.Account, Default: true,
		Config: []model.DhcpConfig{{Key: "domain-name", Values: []string{domain}}, {Key: "domain-name-servers", Values: []string{"AmazonProvidedDNS"}}}}
	set(tx, tx.tn.dhcpOptions, kindDhcp, d.ID, d)
	return d
}

// dhcpSets gives the VPCs of a tenant loaded from a store written before option sets existed
// the default set, in memory only, as mainRouteTables does for route tables: such VPCs name
// a set that was never stored. The next write commits the set and the VPCs (saveLazy).
func (s *Service) dhcpSets(tn *tenant) {
	var dangling []string
	for _, v := range sorted(tn.vpcs, func(x *model.VPC) string { return x.ID }) {
		if v.DhcpOptionsID != model.NoDhcpOptions && tn.dhcpOptions[v.DhcpOptionsID] == nil {
			dangling = append(dangling, v.ID)
		}
	}
	if len(dangling) == 0 {
		return
	}
	tx := s.begin(tn)
	d := tx.defaultDhcpOptions()
	for _, id := range dangling {
		c := tn.vpcs[id].Clone()
		c.DhcpOptionsID = d.ID
		set(tx, tn.vpcs, kindVPC, id, c)
	}
	for _, k := range tx.keys {
		_, kind, id, _ := parseKey(k)
		tn.lazy = append(tn.lazy, lazyRecord{kind, id})
	}
}

// AssociateDhcpOptionsInput are AssociateDhcpOptions' parameters; DhcpOptionsID "default"
// leaves the VPC without a set.
type AssociateDhcpOptionsInput struct {
	DhcpOptionsID, VpcID string
	DryRun               bool
}

// AssociateDhcpOptions makes a VPC use an option set, or none.
func (s *Service) AssociateDhcpOptions(ctx context.Context, t Tenant, in AssociateDhcpOptionsInput) (Result, error) {
	switch {
	case in.DhcpOptionsID == "":
		return Result{}, model.Missing("DhcpOptionsId")
	case in.VpcID == "":
		return Result{}, model.Missing("VpcId")
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		vpc, err := tx.tn.vpc(in.VpcID)
		if err != nil {
			return err
		}
		if in.DhcpOptionsID != model.NoDhcpOptions {
			if _, err := tx.tn.dhcp(in.DhcpOptionsID); err != nil {
				return err
			}
		}
		if vpc.DhcpOptionsID == in.DhcpOptionsID {
			return nil
		}
		c := vpc.Clone()
		c.DhcpOptionsID = in.DhcpOptionsID
		set(tx, tx.tn.vpcs, kindVPC, c.ID, c)
		return nil
	})
}

// DeleteDhcpOptions deletes an option set that no VPC uses.
func (s *Service) DeleteDhcpOptions(ctx context.Context, t Tenant, in IDInput) (Result, error) {
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		if _, err := tx.tn.dhcp(in.ID); err != nil {
			return err
		}
		if hasAny(tx.tn.vpcs, func(v *model.VPC) bool { return v.DhcpOptionsID == in.ID }) {
			return model.DependencyViolation.Errorf("The dhcpOptions '%s' has dependencies and cannot be deleted.", in.ID)
		}
		set[model.DhcpOptions](tx, tx.tn.dhcpOptions, kindDhcp, in.ID, nil)
		return nil
	})
}

// dhcp returns an option set by ID or EC2's malformed and not-found errors.
func (tn *tenant) dhcp(id string) (*model.DhcpOptions, error) {
	return find(tn.dhcpOptions, id, model.PrefixDhcpOptions, model.InvalidDhcpOptionIDMalformed, model.InvalidDhcpOptionIDNotFound)
}

// DhcpOptionSets returns every option set, sorted by ID.
func (v View) DhcpOptionSets() []*model.DhcpOptions {
	return sorted(v.tn.dhcpOptions, func(x *model.DhcpOptions) string { return x.ID })
}

// DhcpOptions returns an option set or EC2's not-found error.
func (v View) DhcpOptions(id string) (*model.DhcpOptions, error) { return v.tn.dhcp(id) }
