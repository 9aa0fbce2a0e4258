package iam

import (
	"context"
	"maps"
	"slices"
)

// CreateAccessKey gives a user a new active AKIA… key. The result holds the secret, which is
// never shown again. A user has at most two keys (Cannot exceed quota for AccessKeysPerUser).
func (s *Service) CreateAccessKey(ctx context.Context, account, user string) (AccessKey, error) {
	var out AccessKey
	err := s.write(ctx, account, func(tx *tx) error {
		if _, ok := tx.a.users[key(user)]; !ok {
			return noSuchUser(user)
		}
		n := 0
		for _, k := range tx.a.keys {
			if k.User == key(user) {
				n++
			}
		}
		if n >= s.cfg.Quotas.KeysPerUser {
			return LimitExceeded.Errorf("Cannot exceed quota for AccessKeysPerUser: %d", s.cfg.Quotas.KeysPerUser)
		}
		id, err := s.newID(prefixAccessKey, 20)
		if err != nil {
			return Internal(err)
		}
		secret, err := randomString(s.rand(), secretAlphabet, 40)
		if err != nil {
			return Internal(err)
		}
		k := &AccessKey{ID: id, User: key(user), Secret: secret, Active: true, Created: tx.now}
		set(tx, tx.a.keys, kindKey, id, k)
		tx.own(id, false)
		out = *k
		return nil
	})
	return out, err
}

// userName is the display name of the user with key k.
func (a *acct) userName(k string) string {
	if u, ok := a.users[k]; ok {
		return u.Name
	}
	return k
}

// ListAccessKeys lists a user's keys by ID; the secrets are the caller's to drop.
func (s *Service) ListAccessKeys(_ context.Context, account, user string, p Page) (keys []AccessKey, next string, err error) {
	err = s.read(account, func(a *acct) error {
		if _, ok := a.users[key(user)]; !ok {
			return noSuchUser(user)
		}
		mine := maps.Collect(func(yield func(string, *AccessKey) bool) {
			for id, k := range a.keys {
				if k.User == key(user) && !yield(id, k) {
					return
				}
			}
		})
		got, nx, perr := page(mine, p, nil)
		if perr != nil {
			return perr
		}
		for _, k := range got {
			keys = append(keys, *k)
		}
		next = nx
		return nil
	})
	return keys, next, err
}

func (a *acct) userKey(user, id string) (*AccessKey, *Error) {
	if _, ok := a.users[key(user)]; !ok {
		return nil, noSuchUser(user)
	}
	k, ok := a.keys[id]
	if !ok || k.User != key(user) {
		return nil, NoSuchEntity.Errorf("The Access Key with id %s cannot be found", id)
	}
	return k, nil
}

// UpdateAccessKey sets a key's status, "Active" or "Inactive"; an inactive key stops
// authenticating at once (Lookup).
func (s *Service) UpdateAccessKey(ctx context.Context, account, user, id, status string) error {
	if !slices.Contains([]string{"Active", "Inactive"}, status) {
		return validation(status, "status", "Member must satisfy enum value set: [Active, Inactive]")
	}
	return s.write(ctx, account, func(tx *tx) error {
		k, err := tx.a.userKey(user, id)
		if err != nil {
			return err
		}
		c := *k
		c.Active = status == "Active"
		set(tx, tx.a.keys, kindKey, id, &c)
		return nil
	})
}

// DeleteAccessKey deletes a user's key.
func (s *Service) DeleteAccessKey(ctx context.Context, account, user, id string) error {
	return s.write(ctx, account, func(tx *tx) error {
		if _, err := tx.a.userKey(user, id); err != nil {
			return err
		}
		set(tx, tx.a.keys, kindKey, id, nil)
		tx.own(id, true)
		return nil
	})
}

// Status is a key's status as IAM words it.
func (k AccessKey) Status() string {
	if k.Active {
		return "Active"
	}
	return "Inactive"
}
