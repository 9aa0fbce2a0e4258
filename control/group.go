package control

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/stockade/stockade/model"
)

// GroupRef names a group the way EC2 requests do: by ID, or by name in the default VPC only.
type GroupRef struct {
	ID   string
	Name string
}

// CreateGroupInput are CreateSecurityGroup's parameters.
type CreateGroupInput struct {
	Name        string
	Description string
	VpcID       string // empty: the default VPC
	Tags        model.Tags
	DryRun      bool
	// ID is the group's ID when the caller allocated it (model.NewID) before the call, so
	// that authorization could name the new group's ARN (trail-iam.md §6.5 [STOCKADE]);
	// empty allocates one here.
	ID string
}

// CreateGroup creates a custom security group: no ingress, and egress rules allowing all IPv4
// traffic and, in a VPC with an IPv6 block, all IPv6 traffic too (spec §2.4, corrected by
// issue 13 after a check against real AWS: each is its own sgr- rule).
func (s *Service) CreateGroup(ctx context.Context, t Tenant, in CreateGroupInput) (*model.Group, Result, error) {
	if in.Name == "" {
		return nil, Result{}, model.Missing("GroupName")
	}
	if in.Description == "" {
		return nil, Result{}, model.Missing("GroupDescription")
	}
	name, err := model.NormalizeGroupName(in.Name)
	if err != nil {
		return nil, Result{}, err
	}
	if err := model.ValidateGroupDescription(in.Description); err != nil {
		return nil, Result{}, err
	}
	if strings.EqualFold(name, model.DefaultGroupName) {
		return nil, Result{}, model.InvalidValue("Cannot use reserved security group name: %s", model.DefaultGroupName)
	}
	var g *model.Group
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		var vpc *model.VPC
		if in.VpcID == "" {
			if vpc = tx.tn.defaultVPC(); vpc == nil {
				return model.VPCIdNotSpecified.Errorf("No default VPC for this user")
			}
		} else if vpc, err = tx.tn.vpc(in.VpcID); err != nil {
			return err
		}
		if len(tx.tn.groups) >= s.cfg.Quotas.SecurityGroups {
			return model.SecurityGroupLimitExceeded.New()
		}
		if tx.tn.groupNamed(vpc.ID, name) != nil {
			return model.InvalidGroupDuplicate.New(name, vpc.ID)
		}
		id := in.ID
		if id == "" {
			id = model.NewID(model.PrefixGroup)
		} else if !model.ValidID(model.PrefixGroup, id) || tx.tn.groups[id] != nil {
			return model.InternalError.New().WithCause(fmt.Errorf("create group: preallocated ID %q is malformed or taken", id))
		}
		g = &model.Group{
			ID:          id,
			Name:        name,
			Description: in.Description,
			VpcID:       vpc.ID,
			OwnerID:     t.Account,
			Egress:      allTrafficEgress(vpc),
			Tags:        in.Tags,
		}
		set(tx, tx.tn.groups, kindGroup, g.ID, g)
		return nil
	})
	return g, res, err
}

// allTrafficEgress is the egress a new group starts with (the VPC's default group and custom
// groups alike): protocol -1 to 0.0.0.0/0, and to ::/0 when the VPC has an IPv6 block.
func allTrafficEgress(vpc *model.VPC) []model.Rule {
	all := func(cidr string) model.Rule {
		return model.Rule{ID: model.NewID(model.PrefixRule), Egress: true, Protocol: model.ProtoAll,
			FromPort: -1, ToPort: -1, Peer: model.Peer{CIDR: netip.MustParsePrefix(cidr)}}
	}
	rules := []model.Rule{all("0.0.0.0/0")}
	if vpc.IPv6CIDR.IsValid() {
		rules = append(rules, all("::/0"))
	}
	return rules
}

// DeleteGroupInput are DeleteSecurityGroup's parameters.
type DeleteGroupInput struct {
	Group  GroupRef
	DryRun bool
}

// DeleteGroup deletes a custom group that no interface uses and no other group references.
// It returns the deleted group's ID.
func (s *Service) DeleteGroup(ctx context.Context, t Tenant, in DeleteGroupInput) (string, Result, error) {
	var id string
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		g, err := tx.tn.resolveGroup(in.Group)
		if err != nil {
			return err
		}
		id = g.ID
		if g.Default {
			return model.CannotDelete.Errorf("the specified group: \"%s\" name: \"%s\" cannot be deleted by a user", g.ID, g.Name)
		}
		if tx.tn.groupInUse(g.ID) {
			return model.DependencyViolation.Errorf("resource %s has a dependent object", g.ID)
		}
		set[model.Group](tx, tx.tn.groups, kindGroup, g.ID, nil)
		return nil
	})
	return id, res, err
}

// group returns a group by ID with EC2's malformed and not-found errors.
func (tn *tenant) group(id string) (*model.Group, error) {
	return find(tn.groups, id, model.PrefixGroup, model.InvalidGroupIdMalformed, model.InvalidGroupNotFound)
}

// groupByName finds a group by name in the default VPC, the only VPC where names identify
// groups (spec §11.11).
func (tn *tenant) groupByName(name string) (*model.Group, error) {
	vpc := tn.defaultVPC()
	if vpc == nil {
		return nil, model.VPCIdNotSpecified.Errorf("No default VPC for this user")
	}
	if g := tn.groupNamed(vpc.ID, strings.TrimRight(name, " ")); g != nil {
		return g, nil
	}
	return nil, model.InvalidGroupNotFound.Errorf("The security group '%s' does not exist in default VPC '%s'", name, vpc.ID)
}

// resolveGroup finds the group a request names by GroupId or GroupName.
func (tn *tenant) resolveGroup(ref GroupRef) (*model.Group, error) {
	switch {
	case ref.ID != "":
		return tn.group(ref.ID)
	case ref.Name != "":
		return tn.groupByName(ref.Name)
	}
	return nil, model.MissingParameter.Errorf("The request must contain the parameter groupName or groupId")
}
