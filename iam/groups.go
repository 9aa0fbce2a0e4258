package iam

import (
	"context"
	"maps"
	"slices"
	"strings"
)

// CreateGroup creates a group with a new AGPA… ID.
func (s *Service) CreateGroup(ctx context.Context, account, name, path string) (Group, error) {
	if err := checkName(name, "groupName", 128); err != nil {
		return Group{}, err
	}
	path, perr := checkPath(path, "path")
	if perr != nil {
		return Group{}, perr
	}
	var out Group
	err := s.write(ctx, account, func(tx *tx) error {
		if _, dup := tx.a.groups[key(name)]; dup {
			return EntityAlreadyExists.Errorf("Group with name %s already exists.", name)
		}
		if len(tx.a.groups) >= s.cfg.Quotas.Groups {
			return LimitExceeded.Errorf("Cannot exceed quota for GroupsPerAccount: %d", s.cfg.Quotas.Groups)
		}
		id, err := s.newID(prefixGroup, 21)
		if err != nil {
			return Internal(err)
		}
		g := &Group{Name: name, Path: path, ID: id, Created: tx.now}
		set(tx, tx.a.groups, kindGroup, key(name), g)
		out = *g
		return nil
	})
	return out, err
}

// GroupARN is a group's ARN in account.
func GroupARN(account string, g Group) string { return arn(account, "group", g.Path, g.Name) }

func noSuchGroup(name string) *Error {
	return NoSuchEntity.Errorf("The group with name %s cannot be found.", name)
}

// GetGroup returns a group and its members, by user name.
func (s *Service) GetGroup(_ context.Context, account, name string) (g Group, members []User, err error) {
	err = s.read(account, func(a *acct) error {
		gr, ok := a.groups[key(name)]
		if !ok {
			return noSuchGroup(name)
		}
		g = *gr
		for _, k := range slices.Sorted(maps.Keys(a.users)) {
			if u := a.users[k]; slices.Contains(u.Groups, key(name)) {
				members = append(members, *u)
			}
		}
		return nil
	})
	return g, members, err
}

// ListGroups lists the groups whose path starts with pathPrefix.
func (s *Service) ListGroups(_ context.Context, account, pathPrefix string, p Page) (groups []Group, next string, err error) {
	err = s.read(account, func(a *acct) error {
		got, nx, perr := page(a.groups, p, func(g *Group) bool { return strings.HasPrefix(g.Path, pathPrefix) })
		for _, g := range got {
			groups = append(groups, *g)
		}
		next = nx
		if perr != nil {
			return perr
		}
		return nil
	})
	return groups, next, err
}

// ListGroupsForUser lists the groups a user belongs to.
func (s *Service) ListGroupsForUser(_ context.Context, account, user string, p Page) (groups []Group, next string, err error) {
	err = s.read(account, func(a *acct) error {
		u, ok := a.users[key(user)]
		if !ok {
			return noSuchUser(user)
		}
		got, nx, perr := page(a.groups, p, func(g *Group) bool { return slices.Contains(u.Groups, key(g.Name)) })
		if perr != nil {
			return perr
		}
		for _, g := range got {
			groups = append(groups, *g)
		}
		next = nx
		return nil
	})
	return groups, next, err
}

// DeleteGroup deletes a group without members or policies (DeleteConflict otherwise).
func (s *Service) DeleteGroup(ctx context.Context, account, name string) error {
	return s.write(ctx, account, func(tx *tx) error {
		g, ok := tx.a.groups[key(name)]
		if !ok {
			return noSuchGroup(name)
		}
		for _, u := range tx.a.users {
			if slices.Contains(u.Groups, key(name)) {
				return DeleteConflict.Errorf("Cannot delete entity, must remove users from group first.")
			}
		}
		switch {
		case len(g.Inline) > 0:
			return DeleteConflict.Errorf("Cannot delete entity, must delete policies first.")
		case len(g.Attached) > 0:
			return DeleteConflict.Errorf("Cannot delete entity, must detach all policies first.")
		}
		set(tx, tx.a.groups, kindGroup, key(name), nil)
		return nil
	})
}

// AddUserToGroup adds a user to a group (no-op if already a member); a user belongs to at
// most GroupsPerUser groups.
func (s *Service) AddUserToGroup(ctx context.Context, account, group, user string) error {
	return s.write(ctx, account, func(tx *tx) error {
		if _, ok := tx.a.groups[key(group)]; !ok {
			return noSuchGroup(group)
		}
		u, ok := tx.a.users[key(user)]
		if !ok {
			return noSuchUser(user)
		}
		if slices.Contains(u.Groups, key(group)) {
			return nil
		}
		if len(u.Groups) >= s.cfg.Quotas.GroupsPerUser {
			return LimitExceeded.Errorf("Cannot exceed quota for GroupsPerUser: %d", s.cfg.Quotas.GroupsPerUser)
		}
		c := cloneUser(u)
		c.Groups = append(c.Groups, key(group))
		set(tx, tx.a.users, kindUser, key(user), c)
		return nil
	})
}

// RemoveUserFromGroup removes a member; a user not in the group is NoSuchEntity.
func (s *Service) RemoveUserFromGroup(ctx context.Context, account, group, user string) error {
	return s.write(ctx, account, func(tx *tx) error {
		if _, ok := tx.a.groups[key(group)]; !ok {
			return noSuchGroup(group)
		}
		u, ok := tx.a.users[key(user)]
		if !ok || !slices.Contains(u.Groups, key(group)) {
			return noSuchUser(user)
		}
		c := cloneUser(u)
		c.Groups = slices.DeleteFunc(c.Groups, func(g string) bool { return g == key(group) })
		set(tx, tx.a.users, kindUser, key(user), c)
		return nil
	})
}
