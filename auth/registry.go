package auth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stockade/stockade/store"
)

// Account is one tenant's identity. The secret is kept because SigV4 verification needs it.
type Account struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	Admin           bool      `json:"admin,omitempty"`
	Created         time.Time `json:"created"`
}

// ARN is the account's caller identity as STS GetCallerIdentity reports it.
func (a Account) ARN() string {
	if a.Admin {
		return "arn:aws:iam::" + a.ID + ":root"
	}
	return "arn:aws:iam::" + a.ID + ":user/" + a.Name
}

// Store keys: "accounts/<access key ID>" holds an account; "account-names/<name>" claims its
// name, so that two servers on one store cannot give one name to two accounts.
const (
	keyPrefix  = "accounts/"
	namePrefix = "account-names/"
)

// Registry holds every account in memory, backed by the store. Safe for concurrent use.
type Registry struct {
	st    store.Store
	mu    sync.RWMutex
	byKey map[string]Account
	rev   int64 // the store revision byKey was read at (then followed to, see Follow)
}

// Open loads the accounts from st.
func Open(ctx context.Context, st store.Store) (*Registry, error) {
	r := &Registry{st: st}
	if err := r.Refresh(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Refresh reads every account from the store again: on a store that other servers write,
// the accounts they created since.
func (r *Registry) Refresh(ctx context.Context) error {
	kvs, rev, err := r.st.List(ctx, keyPrefix)
	if err != nil {
		return fmt.Errorf("load accounts: %w", err)
	}
	byKey := map[string]Account{}
	for _, kv := range kvs {
		var a Account
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return fmt.Errorf("load accounts: record %q: %w", kv.Key, err)
		}
		byKey[a.AccessKeyID] = a
	}
	r.mu.Lock()
	r.byKey, r.rev = byKey, rev
	r.mu.Unlock()
	return nil
}

// Follow keeps the registry current with the accounts other servers on the same store create,
// from the store's watch, until ctx ends. A watch that lost its place (compacted history, a
// consumer too slow) reads every account again and goes on from there.
func (r *Registry) Follow(ctx context.Context) {
	for ctx.Err() == nil {
		r.mu.RLock()
		from := r.rev + 1
		r.mu.RUnlock()
		w, err := r.st.Watch(ctx, from)
		if err == nil {
			for ev := range w.C {
				r.apply(ev)
			}
			err = w.Err()
		}
		if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
			return
		}
		if err := r.Refresh(ctx); err != nil {
			select { // the store is out of reach: try again shortly
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
}

// apply takes one committed transaction's account records.
func (r *Registry) apply(ev store.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, op := range ev.Ops {
		if !strings.HasPrefix(op.Key, keyPrefix) {
			continue
		}
		akid := strings.TrimPrefix(op.Key, keyPrefix)
		var a Account
		if op.Delete {
			delete(r.byKey, akid)
		} else if json.Unmarshal(op.Value, &a) == nil && a.AccessKeyID == akid {
			r.byKey[akid] = a
		}
	}
	r.rev = max(r.rev, ev.Revision)
}

// Lookup returns the account owning an access key ID.
func (r *Registry) Lookup(accessKeyID string) (Account, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.byKey[accessKeyID]
	return a, ok
}

// Secret returns the secret of an access key; it has the shape of sigv4.SecretFunc.
func (r *Registry) Secret(accessKeyID string) (string, bool) {
	a, ok := r.Lookup(accessKeyID)
	return a.SecretAccessKey, ok
}

// List returns every account, sorted by account ID.
func (r *Registry) List() []Account {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Account, 0, len(r.byKey))
	for _, a := range r.byKey {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Account) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Admin returns the administrator account, if one exists.
func (r *Registry) Admin() (Account, bool) {
	for _, a := range r.List() {
		if a.Admin {
			return a, true
		}
	}
	return Account{}, false
}

// ValidName reports whether name is acceptable for an account: 1–64 of [A-Za-z0-9+=,.@_-],
// IAM's user-name alphabet.
func ValidName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("+=,.@_-", c)) {
			return false
		}
	}
	return true
}

// Create makes a new account with a fresh 12-digit ID and key pair, durably.
func (r *Registry) Create(ctx context.Context, name string, admin bool) (Account, error) {
	if !ValidName(name) {
		return Account{}, fmt.Errorf("account name %q: use 1-64 letters, digits or +=,.@_-", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := map[string]bool{}
	for _, a := range r.byKey {
		if a.Name == name {
			return Account{}, fmt.Errorf("%w: %q belongs to account %s", ErrNameTaken, name, a.ID)
		}
		ids[a.ID] = true
	}
	a := Account{Name: name, Admin: admin, Created: time.Now().UTC()}
	for a.ID == "" || ids[a.ID] || strings.HasPrefix(a.ID, "0") {
		a.ID = randomString("0123456789", 12)
	}
	a.AccessKeyID = "AKIA" + randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
	a.SecretAccessKey = randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40)
	b, err := json.Marshal(a)
	if err != nil {
		return Account{}, err
	}
	// Neither the key nor the name may exist yet: a second server on the same store cannot
	// create a clashing key, nor an account of the same name.
	conds := []store.Cond{{Key: keyPrefix + a.AccessKeyID}, {Key: namePrefix + name}}
	ops := []store.Op{{Key: keyPrefix + a.AccessKeyID, Value: b}, {Key: namePrefix + name, Value: []byte(a.ID)}}
	if _, err := r.st.Txn(ctx, conds, ops); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return Account{}, fmt.Errorf("%w: %q was claimed by another server first", ErrNameTaken, name)
		}
		return Account{}, fmt.Errorf("store account %s: %w", a.ID, err)
	}
	r.byKey[a.AccessKeyID] = a
	return a, nil
}

// ErrNameTaken is Create's error for a name another account has.
var ErrNameTaken = errors.New("account name taken")

func randomString(alphabet string, n int) string {
	out := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range out {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		out[i] = alphabet[v.Int64()]
	}
	return string(out)
}

// CredentialsFile renders a in the AWS shared-credentials format under profile.
func CredentialsFile(profile string, a Account) string {
	return fmt.Sprintf("# Stockade account %s (%s)\n[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		a.ID, a.Name, profile, a.AccessKeyID, a.SecretAccessKey)
}

// WriteCredentials writes the credentials file atomically with mode 0600.
func WriteCredentials(path, profile string, a Account) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".credentials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(CredentialsFile(profile, a)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadCredentials reads one profile's key from a shared-credentials file, as
// WriteCredentials writes it (and the AWS CLI reads it): the operator's key for a process
// that calls a server on its behalf (stockade agent --credentials).
func ReadCredentials(path, profile string) (accessKeyID, secret string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			in = strings.TrimSpace(line[1:len(line)-1]) == profile
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !in || !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			accessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	if accessKeyID == "" || secret == "" {
		return "", "", fmt.Errorf("%s: no aws_access_key_id and aws_secret_access_key in profile [%s]", path, profile)
	}
	return accessKeyID, secret, nil
}
