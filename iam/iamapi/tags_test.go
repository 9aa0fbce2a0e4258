package iamapi

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGoldenTags drives the tag actions of users and roles, their paging and their errors;
// the replies are compared with testdata/tags.txt (-update rewrites it).
func TestGoldenTags(t *testing.T) {
	f := newFixture(t)
	v := "2010-05-08"
	steps := []goldenStep{
		{false, "", form("Action", "CreateUser", "Version", v, "UserName", "alice", "Path", "/ops/")},
		{false, "", form("Action", "CreateRole", "Version", v, "RoleName", "sg-admin", "AssumeRolePolicyDocument", trustDoc)},
		{false, "", form("Action", "ListUserTags", "Version", v, "UserName", "alice")},
		{false, "", form("Action", "TagUser", "Version", v, "UserName", "alice",
			"Tags.member.1.Key", "team", "Tags.member.1.Value", "net", "Tags.member.2.Key", "Env", "Tags.member.2.Value", "dev",
			"Tags.member.3.Key", "cost centre", "Tags.member.3.Value", "")},
		{false, "", form("Action", "TagUser", "Version", v, "UserName", "alice", "Tags.member.1.Key", "ENV", "Tags.member.2.Value", "prod")},
		{false, "", form("Action", "TagUser", "Version", v, "UserName", "alice", "Tags.member.1.Key", "ENV", "Tags.member.1.Value", "prod")},
		{false, "", form("Action", "ListUserTags", "Version", v, "UserName", "alice", "MaxItems", "2")},
		{false, "", form("Action", "ListUserTags", "Version", v, "UserName", "alice", "Marker", "team")},
		{false, "", form("Action", "GetUser", "Version", v, "UserName", "alice")},
		{false, "", form("Action", "UntagUser", "Version", v, "UserName", "alice", "TagKeys.member.1", "TEAM", "TagKeys.member.2", "nothing")},
		{false, "", form("Action", "ListUserTags", "Version", v, "UserName", "alice")},
		{false, "", form("Action", "TagUser", "Version", v, "UserName", "alice", "Tags.member.1.Key", "a", "Tags.member.1.Value", "1",
			"Tags.member.2.Key", "A", "Tags.member.2.Value", "2")},
		{false, "", form("Action", "TagUser", "Version", v, "UserName", "alice")},
		{false, "", form("Action", "TagUser", "Version", v, "UserName", "bob", "Tags.member.1.Key", "a", "Tags.member.1.Value", "1")},
		{false, "", form("Action", "UntagUser", "Version", v, "UserName", "alice")},
		{false, "", form("Action", "TagRole", "Version", v, "RoleName", "sg-admin", "Tags.member.1.Key", "env", "Tags.member.1.Value", "prod",
			"Tags.member.2.Key", "owner", "Tags.member.2.Value", "ops")},
		{false, "", form("Action", "TagRole", "Version", v, "RoleName", "sg-admin", "Tags.member.1.Key", "a<b", "Tags.member.1.Value", "1")},
		{false, "", form("Action", "UntagRole", "Version", v, "RoleName", "sg-admin", "TagKeys.member.1", "owner")},
		{false, "", form("Action", "ListRoleTags", "Version", v, "RoleName", "sg-admin")},
		{false, "", form("Action", "GetRole", "Version", v, "RoleName", "sg-admin")},
		{false, "", form("Action", "ListRoleTags", "Version", v, "RoleName", "nope")},
		{false, "", form("Action", "UntagRole", "Version", v, "RoleName", "nope", "TagKeys.member.1", "x")},
	}
	runGolden(t, f, steps, "tags.txt")
}

// TestTagsCLIExample: list-user-tags and list-role-tags give the AWS CLI the document of its
// recorded example (aws/aws-cli awscli/examples/iam/list-user-tags.rst), values included.
func TestTagsCLIExample(t *testing.T) {
	f := newFixture(t)
	tags := []string{"Tags.member.1.Key", "Department", "Tags.member.1.Value", "Accounting",
		"Tags.member.2.Key", "DeptID", "Tags.member.2.Value", "12345"}
	for _, q := range []url.Values{
		form(append([]string{"Action", "CreateUser", "Version", "2010-05-08", "UserName", "alice"}, tags...)...),
		form(append([]string{"Action", "CreateRole", "Version", "2010-05-08", "RoleName", "r", "AssumeRolePolicyDocument", trustDoc}, tags...)...),
	} {
		if code, body := f.call(f.iam, q); code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
	}
	const example = `{"Tags": [{"Key": "Department", "Value": "Accounting"}, {"Key": "DeptID", "Value": "12345"}], "IsTruncated": false}`
	var want any
	if err := json.Unmarshal([]byte(example), &want); err != nil {
		t.Fatal(err)
	}
	for _, q := range []url.Values{
		form("Action", "ListUserTags", "Version", "2010-05-08", "UserName", "alice"),
		form("Action", "ListRoleTags", "Version", "2010-05-08", "RoleName", "r"),
	} {
		code, body := f.call(f.iam, q)
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
		// What botocore makes of the reply: Tags a list of {Key, Value}, IsTruncated a boolean.
		var reply struct {
			Tags []struct {
				Key, Value string
			} `xml:"ListUserTagsResult>Tags>member"`
			RoleTags []struct {
				Key, Value string
			} `xml:"ListRoleTagsResult>Tags>member"`
			Truncated  bool `xml:"ListUserTagsResult>IsTruncated"`
			RTruncated bool `xml:"ListRoleTagsResult>IsTruncated"`
		}
		if err := xml.Unmarshal([]byte(body), &reply); err != nil {
			t.Fatal(err)
		}
		list := append(reply.Tags, reply.RoleTags...)
		b, _ := json.Marshal(map[string]any{"Tags": list, "IsTruncated": reply.Truncated || reply.RTruncated})
		var got any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-CLI example +ours):\n%s", q.Get("Action"), diff)
		}
	}
}
