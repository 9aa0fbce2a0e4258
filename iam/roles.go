package iam

import (
	"context"
	"maps"
	"slices"
	"strings"
)

// CreateRoleInput is CreateRole's input; MaxSessionDuration 0 means the default 3600.
type CreateRoleInput struct {
	Name, Path, TrustPolicy, Description, PermissionsBoundary string
	MaxSessionDuration                                        int
	Tags                                                      []Tag
}

// CreateRole creates a role with a new AROA… ID and its trust policy, stored as submitted.
func (s *Service) CreateRole(ctx context.Context, account string, in CreateRoleInput) (Role, error) {
	if err := checkName(in.Name, "roleName", 64); err != nil {
		return Role{}, err
	}
	path, perr := checkPath(in.Path, "path")
	if perr != nil {
		return Role{}, perr
	}
	if len(in.Description) > 1000 {
		return Role{}, validation(in.Description, "description", "Member must have length less than or equal to 1000")
	}
	if in.MaxSessionDuration == 0 {
		in.MaxSessionDuration = 3600
	}
	if in.MaxSessionDuration < 3600 || in.MaxSessionDuration > 43200 {
		c := "Member must have value greater than or equal to 3600"
		if in.MaxSessionDuration > 43200 {
			c = "Member must have value less than or equal to 43200"
		}
		return Role{}, validation(itoa(in.MaxSessionDuration), "maxSessionDuration", c)
	}
	if err := s.checkTrust(in.TrustPolicy); err != nil {
		return Role{}, err
	}
	if err := checkTags(in.Tags); err != nil {
		return Role{}, err
	}
	var out Role
	err := s.write(ctx, account, func(tx *tx) error {
		if _, dup := tx.a.roles[key(in.Name)]; dup {
			return EntityAlreadyExists.Errorf("Role with name %s already exists.", in.Name)
		}
		if len(tx.a.roles) >= s.cfg.Quotas.Roles {
			return LimitExceeded.Errorf("Cannot exceed quota for RolesPerAccount: %d", s.cfg.Quotas.Roles)
		}
		if err := s.checkBoundary(tx.a, in.PermissionsBoundary); err != nil {
			return err
		}
		id, err := s.newID(prefixRole, 21)
		if err != nil {
			return Internal(err)
		}
		r := &Role{Name: in.Name, Path: path, ID: id, Created: tx.now, Trust: in.TrustPolicy,
			Description: in.Description, MaxSession: in.MaxSessionDuration,
			Boundary: in.PermissionsBoundary, Tags: in.Tags}
		set(tx, tx.a.roles, kindRole, key(in.Name), r)
		out = *r
		return nil
	})
	return out, err
}

func (s *Service) checkTrust(doc string) *Error {
	if err := checkDoc(s.cfg.ValidateTrust, doc); err != nil {
		return err
	}
	if n := policySize(doc); n > s.cfg.Quotas.TrustPolicySize {
		return LimitExceeded.Errorf("Cannot exceed quota for ACLSizePerRole: %d", s.cfg.Quotas.TrustPolicySize)
	}
	return nil
}

// RoleARN is a role's ARN in account.
func RoleARN(account string, r Role) string { return arn(account, "role", r.Path, r.Name) }

func noSuchRole(name string) *Error {
	return NoSuchEntity.Errorf("The role with name %s cannot be found.", name)
}

// GetRole returns a role by name.
func (s *Service) GetRole(_ context.Context, account, name string) (Role, error) {
	var out Role
	err := s.read(account, func(a *acct) error {
		r, ok := a.roles[key(name)]
		if !ok {
			return noSuchRole(name)
		}
		out = *r
		return nil
	})
	return out, err
}

// ListRoles lists the roles whose path starts with pathPrefix.
func (s *Service) ListRoles(_ context.Context, account, pathPrefix string, p Page) (roles []Role, next string, err error) {
	err = s.read(account, func(a *acct) error {
		got, nx, perr := page(a.roles, p, func(r *Role) bool { return strings.HasPrefix(r.Path, pathPrefix) })
		if perr != nil {
			return perr
		}
		for _, r := range got {
			roles = append(roles, *r)
		}
		next = nx
		return nil
	})
	return roles, next, err
}

// DeleteRole deletes a role without policies; its sessions die with it: Lookup checks the
// role's ID, and up to maxPurge of their records are deleted here (a transaction of etcd holds
// 128 operations), the others once past their expiry and grace (purgeExpired).
func (s *Service) DeleteRole(ctx context.Context, account, name string) error {
	return s.write(ctx, account, func(tx *tx) error {
		r, ok := tx.a.roles[key(name)]
		if !ok {
			return noSuchRole(name)
		}
		switch {
		case len(r.Inline) > 0:
			return DeleteConflict.Errorf("Cannot delete entity, must delete policies first.")
		case len(r.Attached) > 0:
			return DeleteConflict.Errorf("Cannot delete entity, must detach all policies first.")
		}
		set(tx, tx.a.roles, kindRole, key(name), nil)
		n := 0
		for _, id := range slices.Sorted(maps.Keys(tx.a.sessions)) {
			if n < maxPurge && tx.a.sessions[id].RoleID == r.ID {
				set(tx, tx.a.sessions, kindSession, id, nil)
				tx.own(id, true)
				n++
			}
		}
		return nil
	})
}

// UpdateAssumeRolePolicy replaces a role's trust policy.
func (s *Service) UpdateAssumeRolePolicy(ctx context.Context, account, name, doc string) error {
	if err := s.checkTrust(doc); err != nil {
		return err
	}
	return s.write(ctx, account, func(tx *tx) error {
		r, ok := tx.a.roles[key(name)]
		if !ok {
			return noSuchRole(name)
		}
		c := cloneRole(r)
		c.Trust = doc
		set(tx, tx.a.roles, kindRole, key(name), c)
		return nil
	})
}

func cloneRole(r *Role) *Role {
	c := *r
	c.Inline = maps.Clone(r.Inline)
	c.Attached = slices.Clone(r.Attached)
	c.Tags = slices.Clone(r.Tags)
	return &c
}
