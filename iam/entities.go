package iam

import "time"

// Tag is one key/value tag on a user or role (tags feed aws:PrincipalTag).
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// User is an IAM user. Inline policies are by name; Attached holds managed policy ARNs in
// attachment order; Groups holds the keys (lower-cased names) of the groups it belongs to.
type User struct {
	Name     string            `json:"name"`
	Path     string            `json:"path"`
	ID       string            `json:"id"`
	Created  time.Time         `json:"created"`
	Boundary string            `json:"boundary,omitempty"`
	Tags     []Tag             `json:"tags,omitempty"`
	Inline   map[string]string `json:"inline,omitempty"`
	Attached []string          `json:"attached,omitempty"`
	Groups   []string          `json:"groups,omitempty"`
}

// AccessKey is a user's long-term key. The secret is kept because SigV4 verification needs it;
// it is shown to the client only once, by CreateAccessKey.
type AccessKey struct {
	ID      string    `json:"id"`
	User    string    `json:"user"` // the user's key (lower-cased name)
	Secret  string    `json:"secret"`
	Active  bool      `json:"active"`
	Created time.Time `json:"created"`
}

// Group is an IAM group; its members are the users whose Groups name it.
type Group struct {
	Name     string            `json:"name"`
	Path     string            `json:"path"`
	ID       string            `json:"id"`
	Created  time.Time         `json:"created"`
	Inline   map[string]string `json:"inline,omitempty"`
	Attached []string          `json:"attached,omitempty"`
}

// Role is an IAM role; Trust is its trust (assume-role) policy as submitted.
type Role struct {
	Name        string            `json:"name"`
	Path        string            `json:"path"`
	ID          string            `json:"id"`
	Created     time.Time         `json:"created"`
	Trust       string            `json:"trust"`
	Description string            `json:"description,omitempty"`
	MaxSession  int               `json:"maxSession"` // seconds
	Boundary    string            `json:"boundary,omitempty"`
	Tags        []Tag             `json:"tags,omitempty"`
	Inline      map[string]string `json:"inline,omitempty"`
	Attached    []string          `json:"attached,omitempty"`
	LastUsed    time.Time         `json:"lastUsed,omitzero"`
}

// Policy is a managed policy with its versions, oldest first.
type Policy struct {
	Name           string          `json:"name"`
	Path           string          `json:"path"`
	ID             string          `json:"id"`
	ARN            string          `json:"arn"`
	Description    string          `json:"description,omitempty"`
	Created        time.Time       `json:"created"`
	Updated        time.Time       `json:"updated"`
	DefaultVersion string          `json:"defaultVersion"`
	NextVersion    int             `json:"nextVersion"`
	Versions       []PolicyVersion `json:"versions"`
	// Attachments counts the users, groups and roles it is attached to (derived at load).
	Attachments int `json:"-"`
	// AWSManaged marks the built-in AWS-managed policies, which are not stored.
	AWSManaged bool `json:"-"`
}

// PolicyVersion is one version of a managed policy.
type PolicyVersion struct {
	ID       string    `json:"id"` // "v1", "v2", …
	Document string    `json:"document"`
	Created  time.Time `json:"created"`
}

// Default returns the policy's default version.
func (p *Policy) Default() PolicyVersion {
	for _, v := range p.Versions {
		if v.ID == p.DefaultVersion {
			return v
		}
	}
	return PolicyVersion{}
}

// Session is a role session issued by AssumeRole; it lives until Expiration and dies with its
// role (Lookup checks the role still exists with the same ID).
type Session struct {
	AccessKeyID   string    `json:"accessKeyId"`
	Secret        string    `json:"secret"`
	Token         string    `json:"token"`
	Role          string    `json:"role"` // the role's key
	RoleID        string    `json:"roleId"`
	Name          string    `json:"name"` // RoleSessionName
	Issued        time.Time `json:"issued"`
	Expiration    time.Time `json:"expiration"`
	Policy        string    `json:"policy,omitempty"`
	PolicyArns    []string  `json:"policyArns,omitempty"`
	SourceID      string    `json:"sourceIdentity,omitempty"`
	Tags          []Tag     `json:"tags,omitempty"`
	SourceSession bool      `json:"chained,omitempty"` // assumed with role-session credentials
}
