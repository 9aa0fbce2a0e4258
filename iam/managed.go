package iam

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"slices"
	"strings"
	"time"
)

// awsManaged is the short built-in set of AWS-managed policies [STOCKADE]: documents written
// by us, under AWS's ARNs where AWS has the policy; any other aws ARN is NoSuchEntity.
var awsManaged = map[string]string{
	"AdministratorAccess":        `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
	"AmazonEC2ReadOnlyAccess":    `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","ec2:Get*"],"Resource":"*"}]}`,
	"StockadeSecurityGroupAdmin": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:AuthorizeSecurityGroupIngress","ec2:AuthorizeSecurityGroupEgress","ec2:RevokeSecurityGroupIngress","ec2:RevokeSecurityGroupEgress","ec2:ModifySecurityGroupRules","ec2:UpdateSecurityGroupRuleDescriptionsIngress","ec2:UpdateSecurityGroupRuleDescriptionsEgress","ec2:CreateSecurityGroup","ec2:DeleteSecurityGroup","ec2:CreateTags","ec2:Describe*"],"Resource":"*"}]}`,
}

// epoch is the built-in policies' CreateDate (AdministratorAccess's on AWS).
var epoch = time.Date(2015, 2, 6, 18, 39, 46, 0, time.UTC)

// awsPolicy returns a built-in policy, its ID derived from its name so that it is stable.
func awsPolicy(name string) *Policy {
	doc, ok := awsManaged[name]
	if !ok {
		return nil
	}
	sum := sha256.Sum256([]byte(name))
	id := prefixPolicy + base32.StdEncoding.EncodeToString(sum[:])[:17]
	return &Policy{Name: name, Path: "/", ID: id,
		ARN: AWSPolicyPrefix + "/" + name, Created: epoch, Updated: epoch, DefaultVersion: "v1",
		Versions: []PolicyVersion{{ID: "v1", Document: doc, Created: epoch}}, AWSManaged: true}
}

// policyByARN finds a customer managed policy of the account or a built-in AWS one.
func (s *Service) policyByARN(a *acct, policyARN string) (*Policy, *Error) {
	if name, ok := strings.CutPrefix(policyARN, AWSPolicyPrefix+"/"); ok {
		if p := awsPolicy(name); p != nil {
			return p, nil
		}
	} else if i := strings.LastIndexByte(policyARN, '/'); i >= 0 {
		if p, ok := a.policies[key(policyARN[i+1:])]; ok && p.ARN == policyARN {
			return p, nil
		}
	}
	return nil, NoSuchEntity.Errorf("Policy %s does not exist or is not attachable.", policyARN)
}

func checkARN(policyARN string) *Error {
	if len(policyARN) < 20 || len(policyARN) > 2048 {
		return validation(policyARN, "policyArn", "Member must have length greater than or equal to 20")
	}
	if !strings.HasPrefix(policyARN, "arn:") {
		return InvalidInput.Errorf("ARN %s is not valid.", policyARN)
	}
	return nil
}

// CreatePolicyInput is CreatePolicy's input.
type CreatePolicyInput struct {
	Name, Path, Document, Description string
}

// CreatePolicy creates a customer managed policy (ANPA… ID) with version v1 as default.
func (s *Service) CreatePolicy(ctx context.Context, account string, in CreatePolicyInput) (Policy, error) {
	if err := checkName(in.Name, "policyName", 128); err != nil {
		return Policy{}, err
	}
	path, perr := checkPath(in.Path, "path")
	if perr != nil {
		return Policy{}, perr
	}
	if len(in.Description) > 1000 {
		return Policy{}, validation(in.Description, "description", "Member must have length less than or equal to 1000")
	}
	if err := s.checkManaged(in.Document); err != nil {
		return Policy{}, err
	}
	var out Policy
	err := s.write(ctx, account, func(tx *tx) error {
		if _, dup := tx.a.policies[key(in.Name)]; dup {
			return EntityAlreadyExists.Errorf("A policy called %s already exists. Duplicate names are not allowed.", in.Name)
		}
		if len(tx.a.policies) >= s.cfg.Quotas.Policies {
			return LimitExceeded.Errorf("Cannot exceed quota for PoliciesPerAccount: %d", s.cfg.Quotas.Policies)
		}
		id, err := s.newID(prefixPolicy, 21)
		if err != nil {
			return Internal(err)
		}
		p := &Policy{Name: in.Name, Path: path, ID: id, ARN: arn(account, "policy", path, in.Name),
			Description: in.Description, Created: tx.now, Updated: tx.now, DefaultVersion: "v1", NextVersion: 2,
			Versions: []PolicyVersion{{ID: "v1", Document: in.Document, Created: tx.now}}}
		set(tx, tx.a.policies, kindPolicy, key(in.Name), p)
		out = *p
		return nil
	})
	return out, err
}

func (s *Service) checkManaged(doc string) *Error {
	if err := checkDoc(s.cfg.Validate, doc); err != nil {
		return err
	}
	if policySize(doc) > s.cfg.Quotas.ManagedPolicySize {
		return LimitExceeded.Errorf("Cannot exceed quota for PolicySize: %d", s.cfg.Quotas.ManagedPolicySize)
	}
	return nil
}

// customer finds a customer managed policy for a change: AWS-managed ones cannot be changed.
func (s *Service) customer(a *acct, policyARN string) (*Policy, *Error) {
	if err := checkARN(policyARN); err != nil {
		return nil, err
	}
	p, err := s.policyByARN(a, policyARN)
	if err != nil {
		return nil, NoSuchEntity.Errorf("Policy %s was not found.", policyARN)
	}
	if p.AWSManaged {
		return nil, InvalidInput.Errorf("ARN %s is not valid.", policyARN) // [UNCONFIRMED]
	}
	return p, nil
}

// GetPolicy returns a managed policy (customer or AWS-managed).
func (s *Service) GetPolicy(_ context.Context, account, policyARN string) (Policy, error) {
	if err := checkARN(policyARN); err != nil {
		return Policy{}, err
	}
	var out Policy
	err := s.read(account, func(a *acct) error {
		p, err := s.policyByARN(a, policyARN)
		if err != nil {
			return NoSuchEntity.Errorf("Policy %s was not found.", policyARN)
		}
		out = *p
		return nil
	})
	return out, err
}

// ListPolicies lists managed policies: scope "Local" (customer), "AWS" or "All" (default);
// onlyAttached keeps those attached to some entity.
func (s *Service) ListPolicies(_ context.Context, account, scope, pathPrefix string, onlyAttached bool, p Page) (out []Policy, next string, err error) {
	if scope == "" {
		scope = "All"
	}
	if !slices.Contains([]string{"All", "AWS", "Local"}, scope) {
		return nil, "", validation(scope, "scope", "Member must satisfy enum value set: [All, AWS, Local]")
	}
	err = s.read(account, func(a *acct) error {
		all := map[string]*Policy{}
		if scope != "AWS" {
			for k, pol := range a.policies {
				all["l/"+k] = pol
			}
		}
		if scope != "Local" {
			for name := range awsManaged {
				pol := awsPolicy(name)
				pol.Attachments = s.awsAttachments(a, pol.ARN)
				all["a/"+key(name)] = pol
			}
		}
		got, nx, perr := page(all, p, func(pol *Policy) bool {
			return strings.HasPrefix(pol.Path, pathPrefix) && (!onlyAttached || pol.Attachments > 0)
		})
		if perr != nil {
			return perr
		}
		for _, pol := range got {
			out = append(out, *pol)
		}
		next = nx
		return nil
	})
	return out, next, err
}

func (s *Service) awsAttachments(a *acct, policyARN string) int {
	n := 0
	for _, u := range a.users {
		n += count(u.Attached, policyARN)
	}
	for _, g := range a.groups {
		n += count(g.Attached, policyARN)
	}
	for _, r := range a.roles {
		n += count(r.Attached, policyARN)
	}
	return n
}

func count(list []string, v string) int {
	if slices.Contains(list, v) {
		return 1
	}
	return 0
}

// DeletePolicy deletes a customer managed policy that is attached nowhere and has only its
// default version left.
func (s *Service) DeletePolicy(ctx context.Context, account, policyARN string) error {
	return s.write(ctx, account, func(tx *tx) error {
		p, err := s.customer(tx.a, policyARN)
		if err != nil {
			return err
		}
		if p.Attachments > 0 {
			return DeleteConflict.Errorf("Cannot delete a policy attached to entities.")
		}
		if len(p.Versions) > 1 {
			return DeleteConflict.Errorf("This policy has more than one version. Before you delete a policy, you must delete the policy's versions.")
		}
		set(tx, tx.a.policies, kindPolicy, key(p.Name), nil)
		return nil
	})
}

func clonePolicy(p *Policy) *Policy {
	c := *p
	c.Versions = slices.Clone(p.Versions)
	return &c
}

// CreatePolicyVersion adds a version (v2, v3, …; numbers are never reused), at most
// VersionsPerPolicy of them, optionally making it the default.
func (s *Service) CreatePolicyVersion(ctx context.Context, account, policyARN, doc string, setDefault bool) (PolicyVersion, error) {
	if err := s.checkManaged(doc); err != nil {
		return PolicyVersion{}, err
	}
	var out PolicyVersion
	err := s.write(ctx, account, func(tx *tx) error {
		p, err := s.customer(tx.a, policyARN)
		if err != nil {
			return err
		}
		if len(p.Versions) >= s.cfg.Quotas.VersionsPerPolicy {
			return LimitExceeded.Errorf("A managed policy can have up to %d versions. Before you create a new version, you must delete an existing version.", s.cfg.Quotas.VersionsPerPolicy)
		}
		c := clonePolicy(p)
		v := PolicyVersion{ID: "v" + itoa(c.NextVersion), Document: doc, Created: tx.now}
		c.NextVersion++
		c.Versions = append(c.Versions, v)
		c.Updated = tx.now
		if setDefault {
			c.DefaultVersion = v.ID
		}
		set(tx, tx.a.policies, kindPolicy, key(c.Name), c)
		out = v
		return nil
	})
	return out, err
}

func noSuchVersion(policyARN, id string) *Error {
	return NoSuchEntity.Errorf("Policy %s version %s does not exist or is not attachable.", policyARN, id)
}

func checkVersionID(id string) *Error {
	ok := len(id) >= 2 && id[0] == 'v'
	for _, c := range id[min(1, len(id)):] {
		if c < '0' || c > '9' {
			ok = false
		}
	}
	if !ok {
		return validation(id, "versionId", `Member must satisfy regular expression pattern: v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`)
	}
	return nil
}

// GetPolicyVersion returns one version of a managed policy.
func (s *Service) GetPolicyVersion(_ context.Context, account, policyARN, id string) (PolicyVersion, bool, error) {
	if err := checkVersionID(id); err != nil {
		return PolicyVersion{}, false, err
	}
	var out PolicyVersion
	var isDefault bool
	err := s.read(account, func(a *acct) error {
		p, err := s.policyByARN(a, policyARN)
		if err != nil {
			return NoSuchEntity.Errorf("Policy %s was not found.", policyARN)
		}
		for _, v := range p.Versions {
			if v.ID == id {
				out, isDefault = v, v.ID == p.DefaultVersion
				return nil
			}
		}
		return noSuchVersion(policyARN, id)
	})
	return out, isDefault, err
}

// ListPolicyVersions lists a policy's versions, newest first as AWS does.
func (s *Service) ListPolicyVersions(_ context.Context, account, policyARN string) (out []PolicyVersion, defaultID string, err error) {
	err = s.read(account, func(a *acct) error {
		p, err := s.policyByARN(a, policyARN)
		if err != nil {
			return NoSuchEntity.Errorf("Policy %s was not found.", policyARN)
		}
		out = slices.Clone(p.Versions)
		slices.Reverse(out)
		defaultID = p.DefaultVersion
		return nil
	})
	return out, defaultID, err
}

// SetDefaultPolicyVersion makes a version the default.
func (s *Service) SetDefaultPolicyVersion(ctx context.Context, account, policyARN, id string) error {
	return s.changeVersion(ctx, account, policyARN, id, func(c *Policy, now time.Time) *Error {
		c.DefaultVersion, c.Updated = id, now
		return nil
	})
}

// DeletePolicyVersion deletes a version that is not the default.
func (s *Service) DeletePolicyVersion(ctx context.Context, account, policyARN, id string) error {
	return s.changeVersion(ctx, account, policyARN, id, func(c *Policy, _ time.Time) *Error {
		if id == c.DefaultVersion {
			return DeleteConflict.Errorf("Cannot delete the default version of a policy.")
		}
		c.Versions = slices.DeleteFunc(c.Versions, func(v PolicyVersion) bool { return v.ID == id })
		return nil
	})
}

// changeVersion finds version id of a customer policy and stores the policy as change leaves
// a copy of it.
func (s *Service) changeVersion(ctx context.Context, account, policyARN, id string, change func(c *Policy, now time.Time) *Error) error {
	if err := checkVersionID(id); err != nil {
		return err
	}
	return s.write(ctx, account, func(tx *tx) error {
		p, err := s.customer(tx.a, policyARN)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(p.Versions, func(v PolicyVersion) bool { return v.ID == id }) {
			return noSuchVersion(policyARN, id)
		}
		c := clonePolicy(p)
		if err := change(c, tx.now); err != nil {
			return err
		}
		set(tx, tx.a.policies, kindPolicy, key(c.Name), c)
		return nil
	})
}
