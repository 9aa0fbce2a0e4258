package trail

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/internal/golden"
)

// go test ./trail -run Golden -update rewrites testdata/records.
var update = flag.Bool("update", false, "rewrite golden files")

const (
	acct  = "111122223333"
	reqID = "4b0c2a55-58a4-4bb1-a1b3-0e1f2d3c4b5a"
	evID  = "0f2d1c3b-4a59-4687-b0a1-b2c3d4e5f607"
)

var (
	callTime = time.Date(2025, 3, 4, 10, 15, 30, 400e6, time.UTC)
	alice    = Identity{Kind: IAMUser, AccountID: acct, AccessKeyID: "AKIAIOSFODNN7ALICE", UserID: "AIDA5TQ7EXAMPLEALICE",
		UserName: "alice", UserPath: "/ops/"}
	session = Identity{Kind: AssumedRole, AccountID: acct, AccessKeyID: "ASIA5TQ7EXAMPLESESS", RoleID: "AROA5TQ7EXAMPLE4QZJMN",
		RoleName: "sg-admin", RolePath: "/ops/", SessionName: "alice", SessionIssued: time.Date(2025, 3, 4, 10, 1, 12, 0, time.UTC)}
	root = Identity{Kind: Root, AccountID: acct, AccessKeyID: "AKIAIOSFODNN7ROOTKEY"}
)

// q builds Query parameters from alternating names and values.
func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func call(action string, id Identity, params url.Values, response string, err *Failure) Call {
	return Call{Service: EC2, Action: action, Params: params, Response: []byte(response), Err: err, Identity: id,
		SourceIP: "10.1.2.3", UserAgent: "aws-cli/2.15.0 Python/3.11.6 Linux/6.1", Region: "eu-west-1",
		RequestID: reqID, Time: callTime, EventID: evID}
}

const authorizeResponse = `<?xml version="1.0" encoding="UTF-8"?>
<AuthorizeSecurityGroupIngressResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>` + reqID + `</requestId>
    <return>true</return>
    <securityGroupRuleSet>
        <item>
            <groupOwnerId>111122223333</groupOwnerId>
            <groupId>sg-0a1b2c3d4e5f60718</groupId>
            <securityGroupRuleId>sgr-0c1d2e3f4a5b6c7d8</securityGroupRuleId>
            <isEgress>false</isEgress>
            <ipProtocol>tcp</ipProtocol>
            <fromPort>22</fromPort>
            <toPort>22</toPort>
            <cidrIpv4>10.20.0.0/16</cidrIpv4>
            <description>ops VPN</description>
        </item>
    </securityGroupRuleSet>
</AuthorizeSecurityGroupIngressResponse>`

func returnResponse(action string) string {
	return `<` + action + `Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>` + reqID +
		`</requestId><return>true</return></` + action + `Response>`
}

// queryCall is an IAM or STS call, signed for eu-west-1 as the CLI does with --endpoint-url.
func queryCall(s Service, action string, id Identity, params url.Values, response string, err *Failure) Call {
	c := call(action, id, params, response, err)
	c.Service = s
	return c
}

const trustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/ops/alice"},"Action":"sts:AssumeRole"}]}`

// encoded is a policy document as IAM's XML carries it (RFC 3986, §4.1).
func encoded(doc string) string { return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20") }

// goldenCalls are every record shape of trail-iam.md §1.
var goldenCalls = map[string]Call{
	// §1.3's example: IpPermissions form, IAM user.
	"authorize-ip-permissions": call("AuthorizeSecurityGroupIngress", alice, q("Action", "AuthorizeSecurityGroupIngress",
		"Version", "2016-11-15", "GroupId", "sg-0a1b2c3d4e5f60718", "IpPermissions.1.IpProtocol", "tcp",
		"IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22", "IpPermissions.1.IpRanges.1.CidrIp", "10.20.0.0/16",
		"IpPermissions.1.IpRanges.1.Description", "ops VPN"), authorizeResponse, nil),
	// Legacy scalar form: scalars at the top level, ipPermissions {}.
	"authorize-legacy": call("AuthorizeSecurityGroupIngress", alice, q("GroupId", "sg-0a1b2c3d4e5f60718",
		"IpProtocol", "tcp", "FromPort", "22", "ToPort", "22", "CidrIp", "0.0.0.0/0"), authorizeResponse, nil),
	// Peers of every kind, two permissions, tags on the new rules; an assumed role.
	"authorize-egress-peers-tags": call("AuthorizeSecurityGroupEgress", session, q("GroupId", "sg-0a1b2c3d4e5f60718",
		"IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.Groups.1.GroupId", "sg-0ccc00000000000c1",
		"IpPermissions.1.Groups.1.Description", "db tier",
		"IpPermissions.2.IpProtocol", "udp", "IpPermissions.2.FromPort", "53", "IpPermissions.2.ToPort", "53",
		"IpPermissions.2.Ipv6Ranges.1.CidrIpv6", "::/0", "IpPermissions.2.PrefixListIds.1.PrefixListId", "pl-0123456789abcdef0",
		"TagSpecification.1.ResourceType", "security-group-rule", "TagSpecification.1.Tag.1.Key", "k",
		"TagSpecification.1.Tag.1.Value", "v"),
		`<AuthorizeSecurityGroupEgressResponse><requestId>`+reqID+`</requestId><return>true</return><securityGroupRuleSet>`+
			`<item><groupOwnerId>111122223333</groupOwnerId><groupId>sg-0a1b2c3d4e5f60718</groupId><securityGroupRuleId>sgr-0aaaaaaaaaaaaaaa1</securityGroupRuleId>`+
			`<isEgress>true</isEgress><ipProtocol>-1</ipProtocol><fromPort>-1</fromPort><toPort>-1</toPort>`+
			`<referencedGroupInfo><groupId>sg-0ccc00000000000c1</groupId><userId>111122223333</userId></referencedGroupInfo>`+
			`<description>db tier</description><tagSet><item><key>k</key><value>v</value></item></tagSet></item>`+
			`<item><groupOwnerId>111122223333</groupOwnerId><groupId>sg-0a1b2c3d4e5f60718</groupId><securityGroupRuleId>sgr-0aaaaaaaaaaaaaaa2</securityGroupRuleId>`+
			`<isEgress>true</isEgress><ipProtocol>udp</ipProtocol><fromPort>53</fromPort><toPort>53</toPort><cidrIpv6>::/0</cidrIpv6><tagSet/></item>`+
			`<item><groupOwnerId>111122223333</groupOwnerId><groupId>sg-0a1b2c3d4e5f60718</groupId><securityGroupRuleId>sgr-0aaaaaaaaaaaaaaa3</securityGroupRuleId>`+
			`<isEgress>true</isEgress><ipProtocol>udp</ipProtocol><fromPort>53</fromPort><toPort>53</toPort><prefixListId>pl-0123456789abcdef0</prefixListId><tagSet/></item>`+
			`</securityGroupRuleSet></AuthorizeSecurityGroupEgressResponse>`, nil),
	"revoke-permissions": call("RevokeSecurityGroupIngress", session, q("GroupId", "sg-0a1b2c3d4e5f60718",
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.20.0.0/16"), returnResponse("RevokeSecurityGroupIngress"), nil),
	"revoke-rule-ids": call("RevokeSecurityGroupEgress", session, q("GroupId", "sg-0a1b2c3d4e5f60718",
		"SecurityGroupRuleId.1", "sgr-0c1d2e3f4a5b6c7d8", "SecurityGroupRuleId.2", "sgr-0aaaaaaaaaaaaaaa1"),
		returnResponse("RevokeSecurityGroupEgress"), nil),
	"create-security-group": call("CreateSecurityGroup", root, q("GroupName", "web", "GroupDescription", "Web tier",
		"VpcId", "vpc-0a1b2c3d4e5f60718", "TagSpecification.1.ResourceType", "security-group",
		"TagSpecification.1.Tag.1.Key", "env", "TagSpecification.1.Tag.1.Value", "dev"),
		`<CreateSecurityGroupResponse><requestId>`+reqID+`</requestId><return>true</return><groupId>sg-0123456789abcdef0</groupId>`+
			`<securityGroupArn>arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0123456789abcdef0</securityGroupArn>`+
			`<tagSet><item><key>env</key><value>dev</value></item></tagSet></CreateSecurityGroupResponse>`, nil),
	"delete-security-group-by-name": call("DeleteSecurityGroup", alice, q("GroupName", "web"),
		returnResponse("DeleteSecurityGroup"), nil),
	"modify-rules-one": call("ModifySecurityGroupRules", session, q("GroupId", "sg-0a1b2c3d4e5f60718",
		"SecurityGroupRule.1.SecurityGroupRuleId", "sgr-0c1d2e3f4a5b6c7d8",
		"SecurityGroupRule.1.SecurityGroupRule.IpProtocol", "tcp", "SecurityGroupRule.1.SecurityGroupRule.FromPort", "443",
		"SecurityGroupRule.1.SecurityGroupRule.ToPort", "443", "SecurityGroupRule.1.SecurityGroupRule.CidrIpv4", "0.0.0.0/0",
		"SecurityGroupRule.1.SecurityGroupRule.Description", "public https"), returnResponse("ModifySecurityGroupRules"), nil),
	"modify-rules-two": call("ModifySecurityGroupRules", session, q("GroupId", "sg-0a1b2c3d4e5f60718",
		"SecurityGroupRule.1.SecurityGroupRuleId", "sgr-0c1d2e3f4a5b6c7d8",
		"SecurityGroupRule.1.SecurityGroupRule.IpProtocol", "tcp", "SecurityGroupRule.1.SecurityGroupRule.FromPort", "443",
		"SecurityGroupRule.1.SecurityGroupRule.ToPort", "443", "SecurityGroupRule.1.SecurityGroupRule.CidrIpv4", "0.0.0.0/0",
		"SecurityGroupRule.2.SecurityGroupRuleId", "sgr-0aaaaaaaaaaaaaaa1",
		"SecurityGroupRule.2.SecurityGroupRule.IpProtocol", "-1",
		"SecurityGroupRule.2.SecurityGroupRule.ReferencedGroupId", "sg-0ccc00000000000c1"),
		returnResponse("ModifySecurityGroupRules"), nil),
	// §1.4: a denial keeps requestParameters and has responseElements null.
	"denied": call("AuthorizeSecurityGroupIngress", session, q("GroupId", "sg-0ccc00000000000c1",
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "443", "IpPermissions.1.ToPort", "443",
		"IpPermissions.1.IpRanges.1.CidrIp", "192.0.2.0/24"), authorizeResponse, &Failure{Code: "UnauthorizedOperation",
		Message: "You are not authorized to perform this operation. User: arn:aws:sts::111122223333:assumed-role/sg-admin/alice is not authorized to perform: ec2:AuthorizeSecurityGroupIngress on resource: arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0ccc00000000000c1 because no session policy allows the ec2:AuthorizeSecurityGroupIngress action. Encoded authorization failure message: opaque"}),
	"dry-run": call("DeleteSecurityGroup", alice, q("GroupId", "sg-0a1b2c3d4e5f60718", "DryRun", "true"), "",
		&Failure{Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set."}),
	"server-fault": call("CreateSecurityGroup", alice, q("GroupName", "web", "GroupDescription", "Web tier"), "",
		&Failure{Code: "InternalError", Message: "An internal error has occurred", Server: true}),
	// §1.5: reads record their parameters, never their response.
	"describe": call("DescribeSecurityGroups", alice, q("Action", "DescribeSecurityGroups", "GroupId.1", "sg-0a1b2c3d4e5f60718",
		"Filter.1.Name", "tag:env", "Filter.1.Value.1", "dev", "Filter.1.Value.2", "test", "MaxResults", "10"),
		`<DescribeSecurityGroupsResponse><requestId>`+reqID+`</requestId><securityGroupInfo/></DescribeSecurityGroupsResponse>`, nil),
	"create-key-pair": call("CreateKeyPair", alice, q("KeyName", "ops"),
		`<CreateKeyPairResponse><requestId>`+reqID+`</requestId><keyName>ops</keyName><keyFingerprint>1f:51:ae</keyFingerprint>`+
			`<keyMaterial>-----BEGIN RSA PRIVATE KEY-----secret</keyMaterial><keyPairId>key-0123456789abcdef0</keyPairId></CreateKeyPairResponse>`, nil),
	"iam-create-access-key": {Service: IAM, Action: "CreateAccessKey", Params: q("Action", "CreateAccessKey", "UserName", "bob"),
		Response: []byte(`<CreateAccessKeyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><CreateAccessKeyResult><AccessKey>` +
			`<UserName>bob</UserName><AccessKeyId>AKIAIOSFODNN7BOBKEY</AccessKeyId><Status>Active</Status>` +
			`<SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey><CreateDate>2024-08-01T11:45:21Z</CreateDate>` +
			`</AccessKey></CreateAccessKeyResult><ResponseMetadata><RequestId>` + reqID + `</RequestId></ResponseMetadata></CreateAccessKeyResponse>`),
		Identity: root, SourceIP: "10.1.2.3", Region: "eu-west-1", RequestID: reqID, Time: callTime, EventID: evID},
	"iam-denied": {Service: IAM, Action: "CreateUser", Params: q("UserName", "mallory", "Password", "hunter2"),
		Err:      &Failure{Code: "AccessDenied", Message: "User: arn:aws:iam::111122223333:user/ops/alice is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::111122223333:user/mallory because no identity-based policy allows the iam:CreateUser action"},
		Identity: alice, SourceIP: "10.1.2.3", Region: "eu-west-1", RequestID: reqID, Time: callTime, EventID: evID},
	"sts-assume-role": {Service: STS, Action: "AssumeRole", Params: q("RoleArn", "arn:aws:iam::111122223333:role/ops/sg-admin", "RoleSessionName", "alice"),
		Response: []byte(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>` +
			`<AccessKeyId>ASIA5TQ7EXAMPLESESS</AccessKeyId><SecretAccessKey>wJalrXUtnFEMI/K7MDENG/SESSIONSECRET</SecretAccessKey>` +
			`<SessionToken>FwoGZXIvYXdzEXAMPLE</SessionToken><Expiration>2025-03-04T11:15:30Z</Expiration></Credentials>` +
			`<AssumedRoleUser><AssumedRoleId>AROA5TQ7EXAMPLE4QZJMN:alice</AssumedRoleId><Arn>arn:aws:sts::111122223333:assumed-role/sg-admin/alice</Arn></AssumedRoleUser>` +
			`</AssumeRoleResult><ResponseMetadata><RequestId>` + reqID + `</RequestId></ResponseMetadata></AssumeRoleResponse>`),
		Identity: alice, SourceIP: "10.1.2.3", Region: "eu-west-1", RequestID: reqID, Time: callTime, EventID: evID},
	// IAM and STS (§1.5, §4, §5): member lists as arrays, timestamps Java-style, no requestId,
	// policy documents raw in the request and URL-encoded in the response, awsRegion us-east-1
	// for IAM whatever the signing region, the STS signing region for STS. The shapes follow
	// the CreateUser, CreateRole and AssumeRole records of AWS's IAM user guide ("Example IAM
	// API events in CloudTrail log") as far as the search tool showed them; member order within
	// an object and the records of actions without an AWS example are [UNCONFIRMED].
	"iam-create-user": queryCall(IAM, "CreateUser", session, q("Action", "CreateUser", "Version", "2010-05-08",
		"UserName", "bob", "Path", "/ops/", "Tags.member.1.Key", "team", "Tags.member.1.Value", "net",
		"Tags.member.2.Key", "env", "Tags.member.2.Value", "dev"),
		`<CreateUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><CreateUserResult><User><Path>/ops/</Path>`+
			`<UserName>bob</UserName><UserId>AIDA5TQ7EXAMPLEUSER01</UserId><Arn>arn:aws:iam::111122223333:user/ops/bob</Arn>`+
			`<CreateDate>2025-03-04T10:15:30Z</CreateDate><Tags><member><Key>team</Key><Value>net</Value></member>`+
			`<member><Key>env</Key><Value>dev</Value></member></Tags></User></CreateUserResult>`+
			`<ResponseMetadata><RequestId>`+reqID+`</RequestId></ResponseMetadata></CreateUserResponse>`, nil),
	"iam-create-role": queryCall(IAM, "CreateRole", root, q("RoleName", "sg-admin", "Path", "/ops/", "MaxSessionDuration", "7200",
		"AssumeRolePolicyDocument", trustPolicy),
		`<CreateRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><CreateRoleResult><Role><Path>/ops/</Path>`+
			`<RoleName>sg-admin</RoleName><RoleId>AROA5TQ7EXAMPLE4QZJMN</RoleId><Arn>arn:aws:iam::111122223333:role/ops/sg-admin</Arn>`+
			`<CreateDate>2025-03-04T10:15:30Z</CreateDate><AssumeRolePolicyDocument>`+encoded(trustPolicy)+`</AssumeRolePolicyDocument>`+
			`<MaxSessionDuration>7200</MaxSessionDuration></Role></CreateRoleResult>`+
			`<ResponseMetadata><RequestId>`+reqID+`</RequestId></ResponseMetadata></CreateRoleResponse>`, nil),
	"iam-put-role-policy": queryCall(IAM, "PutRolePolicy", root, q("RoleName", "sg-admin", "PolicyName", "rules",
		"PolicyDocument", trustPolicy), `<PutRolePolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">`+
		`<ResponseMetadata><RequestId>`+reqID+`</RequestId></ResponseMetadata></PutRolePolicyResponse>`, nil),
	"iam-get-user": queryCall(IAM, "GetUser", alice, q("UserName", "bob"),
		`<GetUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetUserResult><User><Path>/</Path>`+
			`<UserName>bob</UserName></User></GetUserResult></GetUserResponse>`, nil),
	"iam-no-such-entity": queryCall(IAM, "DeleteUser", alice, q("UserName", "nobody"), "",
		&Failure{Code: "NoSuchEntity", Message: "The user with name nobody cannot be found."}),
	"sts-assume-role-session-policy": queryCall(STS, "AssumeRole", alice, q("RoleArn", "arn:aws:iam::111122223333:role/ops/sg-admin",
		"RoleSessionName", "alice", "DurationSeconds", "900", "Policy", trustPolicy,
		"PolicyArns.member.1.arn", "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess",
		"Tags.member.1.Key", "project", "Tags.member.1.Value", "sg", "TransitiveTagKeys.member.1", "project"),
		`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>`+
			`<AccessKeyId>ASIA5TQ7EXAMPLESESS</AccessKeyId><SecretAccessKey>wJalrXUtnFEMI/K7MDENG/SESSIONSECRET</SecretAccessKey>`+
			`<SessionToken>FwoGZXIvYXdzEXAMPLE</SessionToken><Expiration>2025-03-04T10:30:30Z</Expiration></Credentials>`+
			`<AssumedRoleUser><AssumedRoleId>AROA5TQ7EXAMPLE4QZJMN:alice</AssumedRoleId><Arn>arn:aws:sts::111122223333:assumed-role/sg-admin/alice</Arn></AssumedRoleUser>`+
			`<PackedPolicySize>6</PackedPolicySize></AssumeRoleResult><ResponseMetadata><RequestId>`+reqID+`</RequestId></ResponseMetadata></AssumeRoleResponse>`, nil),
	"sts-assume-role-by-root": queryCall(STS, "AssumeRole", root, q("RoleArn", "arn:aws:iam::111122223333:role/ops/sg-admin",
		"RoleSessionName", "admin"), "", &Failure{Code: "AccessDenied", Message: "Roles may not be assumed by root accounts."}),
	"sts-decode-invalid": queryCall(STS, "DecodeAuthorizationMessage", session, q("EncodedMessage", "not-a-message"), "",
		&Failure{Code: "InvalidAuthorizationMessageException", Message: "The message is invalid."}),
	"sts-get-caller-identity": queryCall(STS, "GetCallerIdentity", session, q("Action", "GetCallerIdentity", "Version", "2011-06-15"),
		`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>`+
			`<UserId>AROA5TQ7EXAMPLE4QZJMN:alice</UserId><Account>111122223333</Account>`+
			`<Arn>arn:aws:sts::111122223333:assumed-role/sg-admin/alice</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>`, nil),
	"lookup-events-tls": {Service: CloudTrail, Action: "LookupEvents", JSONParams: json.RawMessage(`{"MaxResults":1}`),
		Identity: alice, SourceIP: "10.1.2.3", UserAgent: strings.Repeat("é", 600), Region: "eu-west-1", RequestID: reqID,
		Time: callTime, EventID: evID, TLS: &TLSDetails{TLSVersion: "TLSv1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ClientProvidedHostHeader: "stockade.example:8443"}},
}

// TestGoldenRecords pins the JSON of every record shape; -update rewrites testdata/records.
// The stored form (record plus lookup data) is checked to read back to the same record.
func TestGoldenRecords(t *testing.T) {
	for name, c := range goldenCalls {
		t.Run(name, func(t *testing.T) {
			r, err := Build(c)
			if err != nil {
				t.Fatal(err)
			}
			type golden struct {
				Record   *Record    `json:"record"`
				Lookup   []Resource `json:"lookup"`
				Username string     `json:"username"`
			}
			got, err := json.MarshalIndent(golden{r, r.Lookup, r.Username}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "records", name+".json"), got)
			for _, secret := range []string{"hunter2", "wJalrXUtnFEMI", "BEGIN RSA", "SecretAccessKey", "secretAccessKey"} {
				if bytes.Contains(got, []byte(secret)) {
					t.Errorf("record carries a secret: %q", secret)
				}
			}
			js, _ := json.Marshal(r)
			back, err := decodeEntry(entryOf(r).encode(nil))
			if err != nil {
				t.Fatal(err)
			}
			want := &entry{Time: r.Time.Unix(), Account: acct, Region: r.AWSRegion, EventID: r.EventID, EventName: r.EventName,
				ReadOnly: r.ReadOnly, Username: r.Username, EventSource: r.EventSource, AccessKeyID: r.UserIdentity.AccessKeyID,
				Lookup: r.Lookup, JSON: js}
			if diff := cmp.Diff(want, back, cmp.AllowUnexported(entry{}, position{})); diff != "" {
				t.Errorf("stored record reads back differently (-built +read):\n%s", diff)
			}
		})
	}
}

// TestReadOnlyTable: every EC2 action Stockade serves is in §1.5's table as its name says
// (Describe*/Get* read-only, the rest writes), so a new action cannot slip in unclassified.
func TestReadOnlyTable(t *testing.T) {
	src, err := os.ReadFile("../ec2api/query/internal/gen/main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(string(src), "var actions = strings.Fields(`")
	list, _, _ = strings.Cut(list, "`")
	if !ok || len(strings.Fields(list)) < 50 {
		t.Fatalf("cannot find the action list in the generator")
	}
	for _, a := range strings.Fields(list) {
		want := strings.HasPrefix(a, "Describe") || strings.HasPrefix(a, "Get") || strings.HasPrefix(a, "List")
		if IsReadOnly(a) != want {
			t.Errorf("IsReadOnly(%s) = %v, want %v", a, IsReadOnly(a), want)
		}
	}
	for a, want := range map[string]bool{"AssumeRole": true, "LookupEvents": true, "GetCallerIdentity": true,
		"DecodeAuthorizationMessage": true, "ListUserTags": true, "ListRoleTags": true, "TagRole": false,
		"CreateAccessKey": false, "AuthorizeSecurityGroupIngress": false, "Unknown": false} {
		if IsReadOnly(a) != want {
			t.Errorf("IsReadOnly(%s) = %v, want %v", a, IsReadOnly(a), want)
		}
	}
}

// TestBuildRejectsBadResponse: a response that is not XML is the caller's bug; Build says so
// and still returns the record, with responseElements null.
func TestBuildRejectsBadResponse(t *testing.T) {
	r, err := Build(call("CreateSecurityGroup", alice, q("GroupName", "web"), "<CreateSecurityGroupResponse><groupId>", nil))
	if err == nil || r == nil || string(r.ResponseElements) != "null" {
		t.Fatalf("Build = %v, %v", r, err)
	}
}

// TestEventIDs: a fresh random UUID per record, never the request ID.
func TestEventIDs(t *testing.T) {
	c := call("DeleteSecurityGroup", alice, q("GroupId", "sg-1"), returnResponse("DeleteSecurityGroup"), nil)
	c.EventID = ""
	a, _ := Build(c)
	b, _ := Build(c)
	if a.EventID == b.EventID || a.EventID == a.RequestID || len(a.EventID) != 36 {
		t.Errorf("event IDs %q, %q (request %q)", a.EventID, b.EventID, a.RequestID)
	}
	// A random (version 4, RFC 4122 variant) UUID in its canonical form.
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for range 100 {
		if id := newUUID(); !uuid4.MatchString(id) {
			t.Fatalf("newUUID() = %q, not a version 4 UUID", id)
		}
	}
}

// checkGolden compares got with the file at path, which -update rewrites first.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.File(t, path, append(bytes.TrimSpace(got), '\n'), *update, "the output changed; if on purpose, run with -update")
}

// TestLimits: §1.1's caps — userAgent and errorMessage cut at 1 KB on a character boundary,
// requestParameters over 100 KB null rather than cut into invalid JSON.
func TestLimits(t *testing.T) {
	big := url.Values{"GroupId": {"sg-1"}, "GroupName": {strings.Repeat("x", 101*1024)}}
	c := call("DeleteSecurityGroup", alice, big, "", &Failure{Code: "InvalidGroup.NotFound", Message: strings.Repeat("ü", 700)})
	c.UserAgent = "a" + strings.Repeat("ü", 700)
	r, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.RequestParameters) != "null" {
		t.Errorf("requestParameters of %d bytes kept", len(r.RequestParameters))
	}
	if len(r.UserAgent) != 1023 || len(r.ErrorMessage) != 1024 || !utf8.ValidString(r.UserAgent) || !utf8.ValidString(r.ErrorMessage) {
		t.Errorf("userAgent %d bytes, errorMessage %d bytes", len(r.UserAgent), len(r.ErrorMessage))
	}
	if r.ErrorCode != "Client.InvalidGroup.NotFound" {
		t.Errorf("errorCode %q", r.ErrorCode)
	}
	if b, _ := json.Marshal(r); !json.Valid(b) {
		t.Error("record is not valid JSON")
	}
}

// TestWithResponseIsBuild: a change's record completed from its staged form (the request's
// half built once, before the response) is byte for byte the record Build makes of the whole
// call, LookupEvents resources and all, for every golden call that succeeded: both when the
// staged record's JSON was made first (as its commit makes it), whose JSON the complete one
// reuses, and when it was not.
func TestWithResponseIsBuild(t *testing.T) {
	n := 0
	for key, c := range goldenCalls {
		for _, early := range []bool{true, false} {
			if c.Err != nil {
				continue
			}
			name := fmt.Sprintf("%s (staged JSON made first: %v)", key, early)
			n += withResponseIsBuild(t, name, c, early)
		}
	}
	if n < 20 {
		t.Errorf("only %d golden calls succeeded", n)
	}
}

func withResponseIsBuild(t *testing.T, name string, c Call, early bool) int {
	t.Helper()
	want, werr := Build(c)
	before := c
	before.Response = nil
	staged, err := Build(before)
	if err != nil {
		t.Fatal(err)
	}
	var stagedJSON string
	if early {
		stagedJSON = string(staged.JSON())
	}
	got, gerr := staged.WithResponse(c)
	if (werr == nil) != (gerr == nil) {
		t.Errorf("%s: errors %v and %v", name, werr, gerr)
	}
	if string(got.JSON()) != string(want.JSON()) {
		t.Errorf("%s: from the staged record\n%s\nfrom Build\n%s", name, got.JSON(), want.JSON())
	}
	if diff := cmp.Diff(want.Lookup, got.Lookup); diff != "" {
		t.Errorf("%s: lookup resources (-Build +staged):\n%s", name, diff)
	}
	if early && string(staged.JSON()) != stagedJSON {
		t.Errorf("%s: WithResponse changed the staged record", name)
	}
	return 1
}

// TestPendingPrepare: a call's staged record made by Prepare, before its write's lock, is
// the one its writes stage (the same key and bytes, whatever the number of writes), and the
// complete record completes it; a call prepared but never journaled (its write refused or
// changing nothing) completes nothing — no outbox key of it was ever committed — yet keeps
// the prepared eventTime and eventID.
func TestPendingPrepare(t *testing.T) {
	c := goldenCalls["authorize-ip-permissions"]
	c.Time, c.EventID = time.Time{}, ""
	resp := c.Response
	c.Response = nil

	p := NewPending(c)
	p.Prepare()
	first, second := p.Journal(), p.Journal()
	if diff := cmp.Diff(first, second); diff != "" || len(first) != 1 {
		t.Fatalf("two writes staged different records (-first +second):\n%s", diff)
	}
	first[0].Key = "changed by the caller" // the caller's copy
	if again := p.Journal(); again[0].Key != second[0].Key {
		t.Error("a caller's change to the ops reached the next write's")
	}
	rec, err := p.Finish(resp, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rec.outbox != second[0].Key {
		t.Errorf("complete record completes %q, want the staged %q", rec.outbox, second[0].Key)
	}

	q := NewPending(c)
	q.Prepare()
	staged := q.staged
	rec, err = q.Finish(nil, &Failure{Code: "InvalidGroup.NotFound", Message: "no such group"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.outbox != "" {
		t.Errorf("a call never journaled completes %q", rec.outbox)
	}
	if rec.EventID != staged.EventID || !rec.Time.Equal(staged.Time) {
		t.Errorf("record %s at %s, prepared as %s at %s", rec.EventID, rec.Time, staged.EventID, staged.Time)
	}
}
