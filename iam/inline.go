package iam

import (
	"context"
	"maps"
	"slices"
)

// EntityKind names the three kinds of entity that hold policies.
type EntityKind int

const (
	UserEntity EntityKind = iota
	GroupEntity
	RoleEntity
)

func (k EntityKind) String() string { return [...]string{"user", "group", "role"}[k] }

// holder is one user, group or role seen through its policies: a copy of them, and save,
// which stores a changed copy of the entity with them.
type holder struct {
	name     string
	inline   map[string]string
	attached []string
	save     func(tx *tx)
}

// holderOf finds an entity for reading (tx nil) or writing.
func (s *Service) holderOf(a *acct, kind EntityKind, name string) (*holder, *Error) {
	h := &holder{}
	switch kind {
	case UserEntity:
		u, ok := a.users[key(name)]
		if !ok {
			return nil, noSuchUser(name)
		}
		h.name, h.inline, h.attached = u.Name, maps.Clone(u.Inline), slices.Clone(u.Attached)
		h.save = func(tx *tx) {
			c := cloneUser(u)
			c.Inline, c.Attached = h.stored()
			set(tx, a.users, kindUser, key(name), c)
		}
	case GroupEntity:
		g, ok := a.groups[key(name)]
		if !ok {
			return nil, noSuchGroup(name)
		}
		h.name, h.inline, h.attached = g.Name, maps.Clone(g.Inline), slices.Clone(g.Attached)
		h.save = func(tx *tx) {
			c := *g
			c.Inline, c.Attached = h.stored()
			set(tx, a.groups, kindGroup, key(name), &c)
		}
	default:
		r, ok := a.roles[key(name)]
		if !ok {
			return nil, noSuchRole(name)
		}
		h.name, h.inline, h.attached = r.Name, maps.Clone(r.Inline), slices.Clone(r.Attached)
		h.save = func(tx *tx) {
			c := cloneRole(r)
			c.Inline, c.Attached = h.stored()
			set(tx, a.roles, kindRole, key(name), c)
		}
	}
	if h.inline == nil {
		h.inline = map[string]string{}
	}
	return h, nil
}

// stored is the policies as the entity keeps them: empty is nil, as a record read back is.
func (h *holder) stored() (map[string]string, []string) {
	inline, attached := h.inline, h.attached
	if len(inline) == 0 {
		inline = nil
	}
	if len(attached) == 0 {
		attached = nil
	}
	return inline, attached
}

func (s *Service) inlineQuota(kind EntityKind) int {
	q := s.cfg.Quotas
	return [...]int{q.UserInline, q.GroupInline, q.RoleInline}[kind]
}

// PutPolicy adds or replaces an entity's inline policy (PutUserPolicy, PutGroupPolicy,
// PutRolePolicy). The entity's inline policies together may not exceed its kind's size quota.
func (s *Service) PutPolicy(ctx context.Context, account string, kind EntityKind, entity, name, doc string) error {
	if err := checkName(name, "policyName", 128); err != nil {
		return err
	}
	if err := checkDoc(s.cfg.Validate, doc); err != nil {
		return err
	}
	return s.write(ctx, account, func(tx *tx) error {
		h, err := s.holderOf(tx.a, kind, entity)
		if err != nil {
			return err
		}
		h.inline[name] = doc
		total := 0
		for _, d := range h.inline {
			total += policySize(d)
		}
		if q := s.inlineQuota(kind); total > q {
			return LimitExceeded.Errorf("Maximum policy size of %d bytes exceeded for %s %s", q, kind, h.name)
		}
		h.save(tx)
		return nil
	})
}

func noSuchInline(kind EntityKind, name string) *Error {
	return NoSuchEntity.Errorf("The %s policy with name %s cannot be found.", kind, name)
}

// GetInlinePolicy returns an entity's inline policy document, as submitted.
func (s *Service) GetInlinePolicy(_ context.Context, account string, kind EntityKind, entity, name string) (doc string, err error) {
	err = s.read(account, func(a *acct) error {
		h, herr := s.holderOf(a, kind, entity)
		if herr != nil {
			return herr
		}
		d, ok := h.inline[name]
		if !ok {
			return noSuchInline(kind, name)
		}
		doc = d
		return nil
	})
	return doc, err
}

// DeleteInlinePolicy deletes an entity's inline policy.
func (s *Service) DeleteInlinePolicy(ctx context.Context, account string, kind EntityKind, entity, name string) error {
	return s.write(ctx, account, func(tx *tx) error {
		h, err := s.holderOf(tx.a, kind, entity)
		if err != nil {
			return err
		}
		if _, ok := h.inline[name]; !ok {
			return noSuchInline(kind, name)
		}
		delete(h.inline, name)
		h.save(tx)
		return nil
	})
}

// ListInlinePolicies lists an entity's inline policy names.
func (s *Service) ListInlinePolicies(_ context.Context, account string, kind EntityKind, entity string, p Page) (out []string, next string, err error) {
	err = s.read(account, func(a *acct) error {
		h, herr := s.holderOf(a, kind, entity)
		if herr != nil {
			return herr
		}
		var perr *Error
		out, next, perr = names(slices.Collect(maps.Keys(h.inline)), p)
		if perr != nil {
			return perr
		}
		return nil
	})
	return out, next, err
}
