package iampolicy

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"
)

// The encoded authorization failure message of a denied EC2 call (§6.6) and what
// sts:DecodeAuthorizationMessage returns (§5.6). The JSON shape follows AWS's decoded messages
// ({"items": [...]} lists) [UNCONFIRMED in detail]; the encoding is ours [STOCKADE]: AES-GCM
// sealed with the server's key, the account ID as additional data (only the same account can
// decode), and a 24-hour lifetime.

// AuthorizationMessage is the decoded message.
type AuthorizationMessage struct {
	Allowed           bool           `json:"allowed"`
	ExplicitDeny      bool           `json:"explicitDeny"`
	MatchedStatements items[MsgStmt] `json:"matchedStatements"`
	Failures          items[MsgVal]  `json:"failures"`
	Context           MsgContext     `json:"context"`
}

type items[T any] struct {
	Items []T `json:"items"`
}

// MsgVal is one {"value": …} element.
type MsgVal struct {
	Value string `json:"value"`
}

// MsgStmt is one statement that applied.
type MsgStmt struct {
	StatementID string         `json:"statementId"`
	Effect      string         `json:"effect"`
	Principals  items[MsgVal]  `json:"principals"`
	Actions     items[MsgVal]  `json:"actions"`
	Resources   items[MsgVal]  `json:"resources"`
	Conditions  items[MsgCond] `json:"conditions"`
}

// MsgCond is a condition key with its values.
type MsgCond struct {
	Key    string        `json:"key"`
	Values items[MsgVal] `json:"values"`
}

// MsgContext describes the request.
type MsgContext struct {
	Principal  MsgPrincipal   `json:"principal"`
	Action     string         `json:"action"`
	Resource   string         `json:"resource"`
	Conditions items[MsgCond] `json:"conditions"`
}

// MsgPrincipal names the caller.
type MsgPrincipal struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	ARN  string `json:"arn"`
}

// NewAuthorizationMessage builds the message for a decision and its trace (from Explain).
// principalID and name are the caller's unique ID and user (or session) name.
func NewAuthorizationMessage(req *Request, d Decision, tr *Trace, principalID, name string) AuthorizationMessage {
	m := AuthorizationMessage{Allowed: d.Allowed, ExplicitDeny: d.Reason.Explicit(),
		MatchedStatements: items[MsgStmt]{Items: []MsgStmt{}}, Failures: items[MsgVal]{Items: []MsgVal{}}}
	m.Context = MsgContext{Principal: MsgPrincipal{ID: principalID, Name: name, ARN: req.Principal.ARN},
		Action: req.Action, Resource: d.Resource, Conditions: items[MsgCond]{Items: []MsgCond{}}}
	if tr != nil {
		for _, mt := range tr.Matched {
			st := mt.Statement.stmt
			ms := MsgStmt{StatementID: st.sid, Effect: "ALLOW", Principals: vals([]string{principalID}),
				Actions: vals(st.rawActions), Resources: vals(st.rawResources), Conditions: items[MsgCond]{Items: []MsgCond{}}}
			if st.deny {
				ms.Effect = "DENY"
			}
			for _, c := range st.conds {
				ms.Conditions.Items = append(ms.Conditions.Items, MsgCond{Key: c.rawOp + ":" + c.rawKey, Values: vals(c.raw)})
			}
			m.MatchedStatements.Items = append(m.MatchedStatements.Items, ms)
		}
	}
	add := func(c *Context) {
		for _, k := range c.Keys() {
			v, _ := c.get(k)
			m.Context.Conditions.Items = append(m.Context.Conditions.Items, MsgCond{Key: k, Values: vals(v)})
		}
	}
	add(req.Context)
	for _, r := range req.Resources {
		if r.ARN == d.Resource {
			add(r.Context)
		}
	}
	sort.Slice(m.Context.Conditions.Items, func(i, j int) bool {
		return m.Context.Conditions.Items[i].Key < m.Context.Conditions.Items[j].Key
	})
	return m
}

func vals(ss []string) items[MsgVal] {
	out := items[MsgVal]{Items: make([]MsgVal, 0, len(ss))}
	for _, s := range ss {
		out.Items = append(out.Items, MsgVal{Value: s})
	}
	return out
}

// ErrInvalidMessage is a blob that does not decode for this account: forged, altered, from
// another account, or expired. STS answers InvalidAuthorizationMessageException.
var ErrInvalidMessage = errors.New("invalid authorization message")

// MessageLifetime is how long an encoded message decodes [STOCKADE].
const MessageLifetime = 24 * time.Hour

type sealed struct {
	Issued  int64                `json:"t"`
	Message AuthorizationMessage `json:"m"`
}

// EncodeMessage seals m for account with a 32-byte key at time now.
func EncodeMessage(key []byte, account string, m AuthorizationMessage, now time.Time) (string, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(sealed{Issued: now.Unix(), Message: m})
	if err != nil {
		return "", err
	}
	// The blob's first character is the nonce's first six bits. One draw in 64 would make it
	// '-', which the AWS CLI (`--encoded-message BLOB`) and other argument parsers take for
	// an option: such a nonce is drawn again.
	nonce := make([]byte, aead.NonceSize())
	for {
		if _, err := rand.Read(nonce); err != nil {
			return "", err
		}
		if nonce[0]>>2 != 62 { // '-' in the URL alphabet
			break
		}
	}
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(account))), nil
}

// DecodeMessage opens a blob for account; it returns the message as the JSON string
// DecodeAuthorizationMessage answers with.
func DecodeMessage(key []byte, account, blob string, now time.Time) (string, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(blob))
	if err != nil || len(raw) < aead.NonceSize() {
		return "", ErrInvalidMessage
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(account))
	if err != nil {
		return "", ErrInvalidMessage
	}
	var s sealed
	if json.Unmarshal(plain, &s) != nil {
		return "", ErrInvalidMessage
	}
	issued := time.Unix(s.Issued, 0)
	if now.Before(issued.Add(-time.Minute)) || now.After(issued.Add(MessageLifetime)) {
		return "", ErrInvalidMessage
	}
	out, err := json.Marshal(s.Message)
	return string(out), err
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("authorization message key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
