package control

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/stockade/stockade/model"
)

// Idempotency (ClientToken): a retry with the same token and the same parameters returns what
// the first call created; the same token with other parameters is IdempotentParameterMismatch.

// clientToken remembers an idempotent request (ClientToken): a fingerprint of its parameters
// and the IDs it created, so that a retry returns the same resources. Tokens are kept for
// tokenTTL and at most maxTokens per tenant (see remember).
type clientToken struct {
	Fingerprint string    `json:"fp"`
	IDs         []string  `json:"ids"`
	Created     time.Time `json:"created,omitzero"` // zero in records written before tokens expired
}

// fingerprint hashes a request's parameters by value: JSON follows pointers (a retry's are new
// ones) and sorts map keys. The inputs hold no channels or functions, so Marshal cannot fail.
func fingerprint(action string, in any) string {
	b, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("fingerprint %s: %v", action, err))
	}
	sum := sha256.Sum256(append([]byte(action+" "), b...))
	return hex.EncodeToString(sum[:])
}

// replay reports the IDs an earlier call with this token created (done true), or an error if
// the token was used with other parameters.
func (tx *tx) replay(action, token, fp string) ([]string, bool, error) {
	if err := model.ValidateClientToken(token); err != nil {
		return nil, false, err
	}
	return tx.tn.replay(action, token, fp)
}

func (tn *tenant) replay(action, token, fp string) ([]string, bool, error) {
	if token == "" {
		return nil, false, nil
	}
	tok := tn.tokens[action+"/"+token]
	if tok == nil || tn.now().Sub(tok.Created) >= tokenTTL {
		return nil, false, nil
	}
	if tok.Fingerprint != fp {
		return nil, false, model.IdempotentParameterMismatch.Errorf("The client token you have provided is associated with a resource that is already created with different parameters.")
	}
	return tok.IDs, true, nil
}

// Client tokens are not kept forever, or every idempotent call would grow the tenant's state
// without limit. EC2 documents a token as valid for at least 24 hours (RunInstances: after
// the instance terminates); Stockade keeps each for tokenTTL after its first use, and at most
// maxTokens per tenant, so that a client making thousands of calls a day with fresh tokens
// still has a bound.
const tokenTTL = 24 * time.Hour

var maxTokens = 10000 // a variable so that tests can lower it

// remember stores what a call with a client token created. In the same transaction it
// deletes the tenant's expired tokens (with its other purges, at most maxPurge: retention.go)
// and, if the tenant is at maxTokens, the oldest ones: the bound holds in every committed
// state. An expired token left for a later write answers no replay.
func (tx *tx) remember(action, token, fp string, ids ...string) {
	if token == "" {
		return
	}
	tn, now := tx.tn, tx.now
	type aged struct {
		key     string
		created time.Time
	}
	var live []aged
	for k, tok := range tn.tokens {
		if now.Sub(tok.Created) >= tokenTTL {
			if tx.purging && tx.purged < maxPurge {
				set[clientToken](tx, tn.tokens, kindToken, k, nil)
				tx.purged++
			}
		} else {
			live = append(live, aged{k, tok.Created})
		}
	}
	if excess := len(live) - (maxTokens - 1); excess > 0 {
		slices.SortFunc(live, func(a, b aged) int { return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.key, b.key)) })
		for _, a := range live[:excess] {
			set[clientToken](tx, tn.tokens, kindToken, a.key, nil)
		}
	}
	set(tx, tn.tokens, kindToken, action+"/"+token, &clientToken{Fingerprint: fp, IDs: ids, Created: now})
}
