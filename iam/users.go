package iam

import (
	"context"
	"maps"
	"slices"
	"strings"
)

// CreateUserInput is CreateUser's input.
type CreateUserInput struct {
	Name, Path, PermissionsBoundary string
	Tags                            []Tag
}

// CreateUser creates a user with a new AIDA… ID (a re-created name gets a new ID).
func (s *Service) CreateUser(ctx context.Context, account string, in CreateUserInput) (User, error) {
	if err := checkName(in.Name, "userName", 64); err != nil {
		return User{}, err
	}
	path, perr := checkPath(in.Path, "path")
	if perr != nil {
		return User{}, perr
	}
	if err := checkTags(in.Tags); err != nil {
		return User{}, err
	}
	var out User
	err := s.write(ctx, account, func(tx *tx) error {
		a := tx.a
		if _, dup := a.users[key(in.Name)]; dup {
			return EntityAlreadyExists.Errorf("User with name %s already exists.", in.Name)
		}
		if len(a.users) >= s.cfg.Quotas.Users {
			return LimitExceeded.Errorf("Cannot exceed quota for UsersPerAccount: %d", s.cfg.Quotas.Users)
		}
		if err := s.checkBoundary(a, in.PermissionsBoundary); err != nil {
			return err
		}
		id, err := s.newID(prefixUser, 21)
		if err != nil {
			return Internal(err)
		}
		u := &User{Name: in.Name, Path: path, ID: id, Created: tx.now, Boundary: in.PermissionsBoundary, Tags: in.Tags}
		set(tx, a.users, kindUser, key(in.Name), u)
		out = *u
		return nil
	})
	return out, err
}

// checkBoundary requires a permissions boundary, when one is given, to name an existing
// managed policy (§4.2: NoSuchEntity).
func (s *Service) checkBoundary(a *acct, boundary string) *Error {
	if boundary == "" {
		return nil
	}
	if _, err := s.policyByARN(a, boundary); err != nil {
		return NoSuchEntity.Errorf("Scope ARN: %s does not exist or is not attachable.", boundary)
	}
	return nil
}

// UserARN is a user's ARN in account.
func UserARN(account string, u User) string { return arn(account, "user", u.Path, u.Name) }

func noSuchUser(name string) *Error {
	return NoSuchEntity.Errorf("The user with name %s cannot be found.", name)
}

// GetUser returns a user by name.
func (s *Service) GetUser(_ context.Context, account, name string) (User, error) {
	var out User
	err := s.read(account, func(a *acct) error {
		u, ok := a.users[key(name)]
		if !ok {
			return noSuchUser(name)
		}
		out = *u
		return nil
	})
	return out, err
}

// ListUsers lists the users whose path starts with pathPrefix, by name.
func (s *Service) ListUsers(_ context.Context, account, pathPrefix string, p Page) (users []User, next string, err error) {
	err = s.read(account, func(a *acct) error {
		got, nx, perr := page(a.users, p, func(u *User) bool { return strings.HasPrefix(u.Path, pathPrefix) })
		if perr != nil {
			return perr
		}
		for _, u := range got {
			users = append(users, *u)
		}
		next = nx
		return nil
	})
	return users, next, err
}

// DeleteUser deletes a user that has no access keys, inline or attached policies, or group
// memberships left (DeleteConflict otherwise; the texts are moto's [UNCONFIRMED]).
func (s *Service) DeleteUser(ctx context.Context, account, name string) error {
	return s.write(ctx, account, func(tx *tx) error {
		u, ok := tx.a.users[key(name)]
		if !ok {
			return noSuchUser(name)
		}
		for _, k := range tx.a.keys {
			if k.User == key(name) {
				return DeleteConflict.Errorf("Cannot delete entity, must delete access keys first.")
			}
		}
		switch {
		case len(u.Inline) > 0:
			return DeleteConflict.Errorf("Cannot delete entity, must delete policies first.")
		case len(u.Attached) > 0:
			return DeleteConflict.Errorf("Cannot delete entity, must detach all policies first.")
		case len(u.Groups) > 0:
			return DeleteConflict.Errorf("Cannot delete entity, must remove users from group first.")
		}
		set(tx, tx.a.users, kindUser, key(name), nil)
		return nil
	})
}

// cloneUser copies a user deeply enough to change its policies and groups.
func cloneUser(u *User) *User {
	c := *u
	c.Inline = maps.Clone(u.Inline)
	c.Attached = slices.Clone(u.Attached)
	c.Groups = slices.Clone(u.Groups)
	c.Tags = slices.Clone(u.Tags)
	return &c
}
