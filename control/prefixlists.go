package control

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/stockade/stockade/model"
)

// PLEntryInput is one Entry.N / AddEntry.N of a request.
type PLEntryInput struct {
	CIDR        string
	Description string
}

// CreatePrefixListInput are CreateManagedPrefixList's parameters.
type CreatePrefixListInput struct {
	Name        string
	Family      string // IPv4 or IPv6
	MaxEntries  int
	HasMax      bool
	Entries     []PLEntryInput
	Tags        model.Tags
	ClientToken string
	DryRun      bool
}

// CreatePrefixList creates a customer-managed prefix list at version 1 (spec §6).
func (s *Service) CreatePrefixList(ctx context.Context, t Tenant, in CreatePrefixListInput) (*model.PrefixList, Result, error) {
	if err := validatePLName(in.Name, true); err != nil {
		return nil, Result{}, err
	}
	var ipv6 bool
	switch in.Family {
	case "":
		return nil, Result{}, model.Missing("AddressFamily")
	case "IPv4":
	case "IPv6":
		ipv6 = true
	default:
		return nil, Result{}, model.InvalidValue("Value (%s) for parameter addressFamily is invalid. Valid values: IPv4, IPv6", in.Family)
	}
	if !in.HasMax {
		return nil, Result{}, model.Missing("MaxEntries")
	}
	if in.MaxEntries < 1 || in.MaxEntries > s.cfg.Quotas.PrefixListEntries {
		return nil, Result{}, model.InvalidValue("Value (%d) for parameter maxEntries is invalid. It must be between 1 and %d.", in.MaxEntries, s.cfg.Quotas.PrefixListEntries)
	}
	entries, err := plEntries(nil, in.Entries, ipv6)
	if err != nil {
		return nil, Result{}, err
	}
	if len(entries) > in.MaxEntries {
		return nil, Result{}, model.InvalidValue("The prefix list has %d entries, more than its maximum of %d.", len(entries), in.MaxEntries)
	}
	var pl *model.PrefixList
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		fp := fingerprint("CreateManagedPrefixList", in)
		if ids, done, err := tx.replay("CreateManagedPrefixList", in.ClientToken, fp); err != nil || done {
			if err == nil {
				pl, err = tx.tn.prefixList(ids[0])
			}
			return err
		}
		if len(tx.tn.prefixLists) >= s.cfg.Quotas.PrefixLists {
			return model.PrefixListLimitExceeded.New(s.cfg.Quotas.PrefixLists)
		}
		pl = &model.PrefixList{ID: model.NewID(model.PrefixPrefixList), Name: in.Name, OwnerID: t.Account, IPv6: ipv6,
			MaxEntries: in.MaxEntries, Version: 1, Entries: entries, Created: tx.now, State: "create-complete", Tags: in.Tags}
		set(tx, tx.tn.prefixLists, kindPrefixList, pl.ID, pl)
		tx.remember("CreateManagedPrefixList", in.ClientToken, fp, pl.ID)
		return nil
	})
	return pl, res, err
}

func validatePLName(name string, required bool) error {
	switch {
	case name == "" && required:
		return model.Missing("PrefixListName")
	case utf8.RuneCountInString(name) > 255 || !model.PrintableText(name):
		return model.InvalidValue("The prefix list name must be at most 255 characters of text without control characters.")
	case strings.HasPrefix(strings.ToLower(name), "com.amazonaws"):
		return model.InvalidValue("Prefix list names starting with 'com.amazonaws' are reserved for AWS.")
	}
	return nil
}

// plEntries adds entries to a list's current ones: CIDRs canonical and of the list's family;
// a CIDR already present gets the new description.
func plEntries(cur []model.PLEntry, add []PLEntryInput, ipv6 bool) ([]model.PLEntry, error) {
	out := append([]model.PLEntry(nil), cur...)
	seen := map[string]bool{}
	for _, e := range add {
		p, err := model.ParseCIDR(e.CIDR, ipv6, "Cidr")
		if err != nil {
			return nil, err
		}
		if seen[p.String()] {
			return nil, model.InvalidValue("The CIDR %s appears more than once in the request.", p)
		}
		seen[p.String()] = true
		if utf8.RuneCountInString(e.Description) > 255 || !model.PrintableText(e.Description) {
			return nil, model.InvalidValue("Prefix list entry descriptions must be at most 255 characters of text without control characters.")
		}
		replaced := false
		for i := range out {
			if out[i].CIDR == p {
				out[i].Description, replaced = e.Description, true
			}
		}
		if !replaced {
			out = append(out, model.PLEntry{CIDR: p, Description: e.Description})
		}
	}
	return out, nil
}

// ModifyPrefixListInput are ModifyManagedPrefixList's parameters.
type ModifyPrefixListInput struct {
	ID             string
	CurrentVersion int64
	HasCurrent     bool
	Name           *string
	Add            []PLEntryInput
	Remove         []string
	MaxEntries     int
	HasMax         bool
	DryRun         bool
}

// ModifyPrefixList renames, resizes or changes the entries of a list. Entry changes create a
// new version; CurrentVersion, when given, must be the current one. Growing MaxEntries must not
// push any referencing group over its rule quota (spec §4).
func (s *Service) ModifyPrefixList(ctx context.Context, t Tenant, in ModifyPrefixListInput) (*model.PrefixList, Result, error) {
	if in.ID == "" {
		return nil, Result{}, model.Missing("PrefixListId")
	}
	entryChange := len(in.Add) > 0 || len(in.Remove) > 0
	if entryChange && in.HasMax {
		return nil, Result{}, model.InvalidParameterCombination.Errorf("You cannot change the entries and the maximum number of entries of a prefix list in one request.")
	}
	if in.Name != nil {
		if err := validatePLName(*in.Name, true); err != nil {
			return nil, Result{}, err
		}
	}
	var out *model.PrefixList
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		old, err := tx.tn.prefixList(in.ID)
		if err != nil {
			return err
		}
		if old.AWSManaged() {
			return readOnlyList(old)
		}
		if in.HasCurrent && in.CurrentVersion != old.Version {
			return model.PrefixListVersionMismatch.Errorf("The prefix list has the incorrect version number: current version is %d, not %d.", old.Version, in.CurrentVersion)
		}
		pl := old.Clone()
		pl.State = "modify-complete"
		if in.Name != nil {
			pl.Name = *in.Name
		}
		if entryChange {
			for _, r := range in.Remove {
				p, err := model.ParseCIDR(r, pl.IPv6, "RemoveEntry.N.Cidr")
				if err != nil {
					return err
				}
				i := -1
				for j := range pl.Entries {
					if pl.Entries[j].CIDR == p {
						i = j
					}
				}
				if i < 0 {
					return model.InvalidValue("The prefix list entry %s does not exist in %s.", p, pl.ID)
				}
				pl.Entries = append(pl.Entries[:i:i], pl.Entries[i+1:]...)
			}
			if pl.Entries, err = plEntries(pl.Entries, in.Add, pl.IPv6); err != nil {
				return err
			}
			if len(pl.Entries) > pl.MaxEntries {
				return model.InvalidValue("The prefix list %s would have %d entries, more than its maximum of %d.", pl.ID, len(pl.Entries), pl.MaxEntries)
			}
			pl.Versions = append(pl.Versions, model.PLVersion{Version: old.Version, Entries: old.Entries})
			if len(pl.Versions) > model.MaxPrefixListVersions-1 {
				pl.Versions = pl.Versions[len(pl.Versions)-(model.MaxPrefixListVersions-1):]
			}
			pl.Version++
		}
		if in.HasMax {
			if in.MaxEntries < 1 || in.MaxEntries > s.cfg.Quotas.PrefixListEntries {
				return model.InvalidValue("Value (%d) for parameter maxEntries is invalid. It must be between 1 and %d.", in.MaxEntries, s.cfg.Quotas.PrefixListEntries)
			}
			if in.MaxEntries < len(pl.Entries) {
				return model.InvalidValue("The maximum number of entries (%d) must not be below the current number of entries (%d).", in.MaxEntries, len(pl.Entries))
			}
			pl.MaxEntries = in.MaxEntries
		}
		set(tx, tx.tn.prefixLists, kindPrefixList, pl.ID, pl)
		if in.HasMax && pl.MaxEntries > old.MaxEntries {
			for _, g := range tx.tn.groups {
				if referencesPL(g, pl.ID) {
					if err := s.checkRuleQuota(tx.tn, g); err != nil {
						return model.RulesPerSecurityGroupLimitExceeded.Errorf("Resizing %s to %d entries would exceed the rule quota of security group %s, which references it.", pl.ID, pl.MaxEntries, g.ID)
					}
				}
			}
		}
		out = pl
		return nil
	})
	return out, res, err
}

func referencesPL(g *model.Group, id string) bool {
	for _, rs := range [][]model.Rule{g.Ingress, g.Egress} {
		for i := range rs {
			if rs[i].Peer.PrefixListID == id {
				return true
			}
		}
	}
	return false
}

// DeletePrefixList deletes a list that no rule references.
func (s *Service) DeletePrefixList(ctx context.Context, t Tenant, in IDInput) (*model.PrefixList, Result, error) {
	id := in.ID
	if id == "" {
		return nil, Result{}, model.Missing("PrefixListId")
	}
	var pl *model.PrefixList
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		var err error
		if pl, err = tx.tn.prefixList(id); err != nil {
			return err
		}
		if pl.AWSManaged() {
			return readOnlyList(pl)
		}
		for _, g := range tx.tn.groups {
			if referencesPL(g, id) {
				return model.DependencyViolation.Errorf("The prefix list %s is referenced by security group %s and cannot be deleted.", id, g.ID)
			}
		}
		set[model.PrefixList](tx, tx.tn.prefixLists, kindPrefixList, id, nil)
		return nil
	})
	return pl, res, err
}

// prefixList returns a list by ID — the account's own or one of the region's AWS-managed lists —
// or EC2's malformed and not-found error.
func (tn *tenant) prefixList(id string) (*model.PrefixList, error) {
	if pl := tn.aws.list(tn.key.Region, id); pl != nil {
		return pl, nil
	}
	return find(tn.prefixLists, id, model.PrefixPrefixList, model.InvalidPrefixListIDMalformed, model.InvalidPrefixListIDNotFound)
}
