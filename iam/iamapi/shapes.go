package iamapi

import "github.com/stockade/stockade/iam"

// XML shapes of botocore's IAM and STS models (service-2.json), members in the models' order.

type tagXML struct {
	Key   string
	Value string
}

type tagsXML struct {
	Member []tagXML `xml:"member"`
}

func tagsOf(tags []iam.Tag) *tagsXML {
	if len(tags) == 0 {
		return nil
	}
	t := &tagsXML{}
	for _, tg := range tags {
		t.Member = append(t.Member, tagXML{tg.Key, tg.Value})
	}
	return t
}

type boundaryXML struct {
	PermissionsBoundaryType string
	PermissionsBoundaryArn  string
}

func boundaryOf(arn string) *boundaryXML {
	if arn == "" {
		return nil
	}
	return &boundaryXML{"Policy", arn}
}

type userXML struct {
	Path                string
	UserName            string
	UserID              string `xml:"UserId"`
	Arn                 string
	CreateDate          string
	PermissionsBoundary *boundaryXML `xml:",omitempty"`
	Tags                *tagsXML     `xml:",omitempty"`
}

func userOf(account string, u iam.User) userXML {
	return userXML{u.Path, u.Name, u.ID, iam.UserARN(account, u), timestamp(u.Created), boundaryOf(u.Boundary), tagsOf(u.Tags)}
}

type usersXML struct {
	Member []userXML `xml:"member"`
}

type groupXML struct {
	Path       string
	GroupName  string
	GroupID    string `xml:"GroupId"`
	Arn        string
	CreateDate string
}

func groupOf(account string, g iam.Group) groupXML {
	return groupXML{g.Path, g.Name, g.ID, iam.GroupARN(account, g), timestamp(g.Created)}
}

type groupsXML struct {
	Member []groupXML `xml:"member"`
}

type roleLastUsedXML struct {
	LastUsedDate string `xml:",omitempty"`
	Region       string `xml:",omitempty"`
}

type roleXML struct {
	Path                     string
	RoleName                 string
	RoleID                   string `xml:"RoleId"`
	Arn                      string
	CreateDate               string
	AssumeRolePolicyDocument string
	Description              string `xml:",omitempty"`
	MaxSessionDuration       int
	PermissionsBoundary      *boundaryXML     `xml:",omitempty"`
	Tags                     *tagsXML         `xml:",omitempty"`
	RoleLastUsed             *roleLastUsedXML `xml:",omitempty"`
}

func roleOf(account string, r iam.Role, lastUsed bool) roleXML {
	x := roleXML{r.Path, r.Name, r.ID, iam.RoleARN(account, r), timestamp(r.Created), encode(r.Trust),
		r.Description, r.MaxSession, boundaryOf(r.Boundary), tagsOf(r.Tags), nil}
	if lastUsed { // GetRole only; the region is left out: IAM here is not regional
		x.RoleLastUsed = &roleLastUsedXML{}
		if !r.LastUsed.IsZero() {
			x.RoleLastUsed.LastUsedDate = timestamp(r.LastUsed)
		}
	}
	return x
}

type rolesXML struct {
	Member []roleXML `xml:"member"`
}

type policyXML struct {
	PolicyName                    string
	PolicyID                      string `xml:"PolicyId"`
	Arn                           string
	Path                          string
	DefaultVersionID              string `xml:"DefaultVersionId"`
	AttachmentCount               int
	PermissionsBoundaryUsageCount int
	IsAttachable                  bool
	Description                   string `xml:",omitempty"`
	CreateDate                    string
	UpdateDate                    string
}

func policyOf(p iam.Policy) policyXML {
	return policyXML{p.Name, p.ID, p.ARN, p.Path, p.DefaultVersion, p.Attachments, 0, true, p.Description,
		timestamp(p.Created), timestamp(p.Updated)}
}

type versionXML struct {
	Document         string `xml:",omitempty"`
	VersionID        string `xml:"VersionId"`
	IsDefaultVersion bool
	CreateDate       string
}

type namesXML struct {
	Member []string `xml:"member"`
}

type attachedXML struct {
	Member []struct {
		PolicyName string
		PolicyArn  string
	} `xml:"member"`
}

type accessKeyXML struct {
	UserName        string
	AccessKeyID     string `xml:"AccessKeyId"`
	Status          string
	SecretAccessKey string `xml:",omitempty"`
	CreateDate      string
}

// paging fields shared by the List results.
type truncation struct {
	IsTruncated bool
	Marker      string `xml:",omitempty"`
}

func truncated(next string) truncation { return truncation{next != "", next} }
