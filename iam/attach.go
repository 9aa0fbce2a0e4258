package iam

import (
	"context"
	"slices"
	"strings"
)

// countAttachments adds d to the attachment count of each customer policy in arns (Open).
func (s *Service) countAttachments(a *acct, arns []string, d int) {
	for _, p := range arns {
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			if pol, ok := a.policies[key(p[i+1:])]; ok && pol.ARN == p {
				pol.Attachments += d
			}
		}
	}
}

// bumpAttachments stages a customer policy's changed attachment count (memory only: the count
// is derived at Open, so only the undo is needed).
func (tx *tx) bumpAttachments(p *Policy, d int) {
	if p.AWSManaged {
		return
	}
	c := clonePolicy(p)
	c.Attachments += d
	m, k := tx.a.policies, key(p.Name)
	tx.a.policies[k] = c
	tx.undo = append(tx.undo, func() { m[k] = p })
}

// AttachPolicy attaches a managed policy to a user, group or role (no-op if attached); an
// entity holds at most AttachedPerEntity managed policies.
func (s *Service) AttachPolicy(ctx context.Context, account string, kind EntityKind, entity, policyARN string) error {
	if err := checkARN(policyARN); err != nil {
		return err
	}
	return s.write(ctx, account, func(tx *tx) error {
		h, err := s.holderOf(tx.a, kind, entity)
		if err != nil {
			return err
		}
		p, err := s.policyByARN(tx.a, policyARN)
		if err != nil {
			return err
		}
		if slices.Contains(h.attached, policyARN) {
			return nil
		}
		if len(h.attached) >= s.cfg.Quotas.AttachedPerEntity {
			return LimitExceeded.Errorf("Cannot exceed quota for PoliciesPer%s: %d", [...]string{"User", "Group", "Role"}[kind], s.cfg.Quotas.AttachedPerEntity)
		}
		h.attached = append(h.attached, policyARN)
		h.save(tx)
		tx.bumpAttachments(p, 1)
		return nil
	})
}

// DetachPolicy detaches a managed policy; one not attached is NoSuchEntity.
func (s *Service) DetachPolicy(ctx context.Context, account string, kind EntityKind, entity, policyARN string) error {
	if err := checkARN(policyARN); err != nil {
		return err
	}
	return s.write(ctx, account, func(tx *tx) error {
		h, err := s.holderOf(tx.a, kind, entity)
		if err != nil {
			return err
		}
		if !slices.Contains(h.attached, policyARN) {
			return NoSuchEntity.Errorf("Policy %s was not found.", policyARN)
		}
		h.attached = slices.DeleteFunc(h.attached, func(a string) bool { return a == policyARN })
		h.save(tx)
		if p, err := s.policyByARN(tx.a, policyARN); err == nil {
			tx.bumpAttachments(p, -1)
		}
		return nil
	})
}

// AttachedPolicy names one managed policy attached to an entity.
type AttachedPolicy struct{ Name, ARN string }

// ListAttachedPolicies lists the managed policies attached to an entity.
func (s *Service) ListAttachedPolicies(_ context.Context, account string, kind EntityKind, entity, pathPrefix string, p Page) (out []AttachedPolicy, next string, err error) {
	err = s.read(account, func(a *acct) error {
		h, herr := s.holderOf(a, kind, entity)
		if herr != nil {
			return herr
		}
		byARN := map[string]*AttachedPolicy{}
		for _, pa := range h.attached {
			pol, perr := s.policyByARN(a, pa)
			if perr != nil || !strings.HasPrefix(pol.Path, pathPrefix) {
				continue
			}
			byARN[pa] = &AttachedPolicy{Name: pol.Name, ARN: pa}
		}
		got, nx, perr := page(byARN, p, nil)
		if perr != nil {
			return perr
		}
		for _, ap := range got {
			out = append(out, *ap)
		}
		next = nx
		return nil
	})
	return out, next, err
}
