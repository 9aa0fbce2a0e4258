package authz

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/iampolicy"
)

// Info is what a request tells about itself for the global condition keys (§6.5).
type Info struct {
	// SourceIP is the TCP peer's address (aws:SourceIp); Stockade trusts no proxy header.
	SourceIP  string
	UserAgent string
	// Secure: the request came over TLS (aws:SecureTransport).
	Secure bool
	// Region is the region of the request (aws:RequestedRegion); us-east-1 for IAM.
	Region string
	Time   time.Time
}

// InfoOf reads Info from an HTTP request served at time now in region.
func InfoOf(r *http.Request, region string, now time.Time) Info {
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	return Info{SourceIP: ip, UserAgent: r.Header.Get("User-Agent"), Secure: r.TLS != nil, Region: region, Time: now}
}

// PrincipalContext returns the request-wide condition keys of §6.5 for p: the principal's
// (aws:PrincipalArn is the role's ARN for a role session, aws:username only for users,
// aws:MultiFactorAuthPresent absent for long-term keys and "false" for sessions — Stockade
// has no MFA) and, when info is not nil, the request's.
func PrincipalContext(p iam.Principal, info *Info) *iampolicy.Context {
	c := &iampolicy.Context{}
	c.Set(iampolicy.KeyPrincipalAccount, p.Account)
	c.Set(iampolicy.KeyUserID, p.UserID)
	c.Set(iampolicy.KeyViaAWSService, "false")
	switch p.Kind {
	case iam.RootPrincipal:
		c.Set(iampolicy.KeyPrincipalARN, p.ARN)
		c.Set(iampolicy.KeyPrincipalType, "Account")
	case iam.UserPrincipal:
		c.Set(iampolicy.KeyPrincipalARN, p.ARN)
		c.Set(iampolicy.KeyPrincipalType, "User")
		c.Set(iampolicy.KeyUsername, p.UserName)
	case iam.RolePrincipal:
		c.Set(iampolicy.KeyPrincipalARN, p.RoleARN)
		c.Set(iampolicy.KeyPrincipalType, "AssumedRole")
		c.Set(iampolicy.KeyMultiFactorAuth, "false")
		c.Set(iampolicy.KeyTokenIssueTime, p.Issued.UTC().Format(time.RFC3339))
	}
	for _, t := range p.Tags {
		c.Set(iampolicy.KeyPrincipalTagPrefix+t.Key, t.Value)
	}
	if info != nil {
		if info.SourceIP != "" {
			c.Set(iampolicy.KeySourceIP, info.SourceIP)
		}
		if info.UserAgent != "" {
			c.Set(iampolicy.KeyUserAgent, info.UserAgent)
		}
		c.Set(iampolicy.KeySecureTransport, strconv.FormatBool(info.Secure))
		if info.Region != "" {
			c.Set(iampolicy.KeyRequestedRegion, info.Region)
		}
		t := info.Time.UTC()
		c.Set(iampolicy.KeyCurrentTime, t.Format(time.RFC3339))
		c.Set(iampolicy.KeyEpochTime, strconv.FormatInt(t.Unix(), 10))
	}
	return c
}
