package iamapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/store/bolt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const account = "111122223333"

// stream is a deterministic source of IDs and secrets, so that replies are golden.
type stream struct {
	seed [32]byte
	buf  []byte
}

func (s *stream) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) {
		s.seed = sha256.Sum256(s.seed[:])
		s.buf = append(s.buf, s.seed[:]...)
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

type trustByName struct{}

func (trustByName) Allows(_ string, req iam.TrustRequest) iam.TrustDecision {
	if strings.HasSuffix(req.Caller.ARN, ":user/ops/alice") {
		return iam.TrustPrincipal
	}
	return iam.TrustDenied
}

type fixture struct {
	svc       *iam.Service
	iam, sts  http.Handler
	caller    iam.Principal
	requestNo int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	svc, err := iam.Open(context.Background(), st, iam.Config{
		Validate: func(doc string) error {
			if !json.Valid([]byte(doc)) {
				return errors.New("Syntax errors in policy.")
			}
			return nil
		},
		Trust: trustByName{}, Now: func() time.Time { return now }, Rand: &stream{},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{svc: svc, caller: iam.Root(account, "AKIAROOTROOTROOTROOT")}
	opts := Options{Caller: func(*http.Request) (iam.Principal, error) { return f.caller, nil },
		RequestID: func() string { f.requestNo++; return fmt.Sprintf("00000000-0000-0000-0000-%012d", f.requestNo) }}
	if f.iam, err = NewIAM(svc, opts); err != nil {
		t.Fatal(err)
	}
	if f.sts, err = NewSTS(svc, opts); err != nil {
		t.Fatal(err)
	}
	return f
}

// call posts a form to h and returns the status and body.
func (f *fixture) call(h http.Handler, form url.Values) (int, string) {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

const policyDoc = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}`
const trustDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`

// TestGolden drives the §6.7 set-up and its errors through the handlers; every reply (status
// and XML) is compared with testdata/flow.txt.
// go test ./iam/iamapi -run Golden -update rewrites it.
func TestGolden(t *testing.T) {
	f := newFixture(t)
	iamV, stsV := "2010-05-08", "2011-06-15"
	steps := []goldenStep{
		{false, "", form("Action", "CreateUser", "Version", iamV, "UserName", "alice", "Path", "/ops/", "Tags.member.1.Key", "team", "Tags.member.1.Value", "net")},
		{false, "", form("Action", "CreateUser", "Version", iamV, "UserName", "ALICE")},
		{false, "", form("Action", "CreateUser", "Version", iamV)},
		{false, "", form("Action", "GetUser", "Version", iamV, "UserName", "bob")},
		{false, "", form("Action", "GetUser", "Version", iamV)},
		{false, "", form("Action", "CreateAccessKey", "Version", iamV, "UserName", "alice")},
		{false, "alice", form("Action", "ListAccessKeys", "Version", iamV)},
		{false, "alice", form("Action", "GetUser", "Version", iamV)},
		{false, "", form("Action", "ListUsers", "Version", iamV, "MaxItems", "0")},
		{false, "", form("Action", "CreateGroup", "Version", iamV, "GroupName", "ops")},
		{false, "", form("Action", "AddUserToGroup", "Version", iamV, "GroupName", "ops", "UserName", "alice")},
		{false, "", form("Action", "PutGroupPolicy", "Version", iamV, "GroupName", "ops", "PolicyName", "read", "PolicyDocument", policyDoc)},
		{false, "", form("Action", "GetGroupPolicy", "Version", iamV, "GroupName", "ops", "PolicyName", "read")},
		{false, "", form("Action", "PutGroupPolicy", "Version", iamV, "GroupName", "ops", "PolicyName", "bad", "PolicyDocument", "{")},
		{false, "", form("Action", "GetGroup", "Version", iamV, "GroupName", "ops")},
		{false, "", form("Action", "CreateRole", "Version", iamV, "RoleName", "sg-admin", "AssumeRolePolicyDocument", trustDoc, "Description", "rule changes")},
		{false, "", form("Action", "CreatePolicy", "Version", iamV, "PolicyName", "sg-write", "PolicyDocument", policyDoc)},
		{false, "", form("Action", "CreatePolicyVersion", "Version", iamV, "PolicyArn", "arn:aws:iam::111122223333:policy/sg-write", "PolicyDocument", policyDoc, "SetAsDefault", "true")},
		{false, "", form("Action", "AttachRolePolicy", "Version", iamV, "RoleName", "sg-admin", "PolicyArn", "arn:aws:iam::111122223333:policy/sg-write")},
		{false, "", form("Action", "ListAttachedRolePolicies", "Version", iamV, "RoleName", "sg-admin")},
		{false, "", form("Action", "GetPolicy", "Version", iamV, "PolicyArn", "arn:aws:iam::111122223333:policy/sg-write")},
		{false, "", form("Action", "ListPolicyVersions", "Version", iamV, "PolicyArn", "arn:aws:iam::111122223333:policy/sg-write")},
		{false, "", form("Action", "GetPolicyVersion", "Version", iamV, "PolicyArn", "arn:aws:iam::111122223333:policy/sg-write", "VersionId", "v1")},
		{false, "", form("Action", "DeleteRole", "Version", iamV, "RoleName", "sg-admin")},
		{false, "", form("Action", "ListPolicies", "Version", iamV, "Scope", "AWS", "MaxItems", "1")},
		{false, "", form("Action", "GetRole", "Version", iamV, "RoleName", "sg-admin")},
		{true, "", form("Action", "AssumeRole", "Version", stsV, "RoleArn", "arn:aws:iam::111122223333:role/sg-admin", "RoleSessionName", "root")},
		{true, "alice", form("Action", "AssumeRole", "Version", stsV, "RoleArn", "arn:aws:iam::111122223333:role/sg-admin", "RoleSessionName", "alice", "DurationSeconds", "43201")},
		{true, "alice", form("Action", "AssumeRole", "Version", stsV, "RoleArn", "arn:aws:iam::111122223333:role/sg-admin", "RoleSessionName", "alice")},
		{true, "alice", form("Action", "GetCallerIdentity", "Version", stsV)},
		{true, "", form("Action", "GetCallerIdentity", "Version", stsV)},
		{true, "alice", form("Action", "DecodeAuthorizationMessage", "Version", stsV, "EncodedMessage", "x")},
		{false, "", form("Action", "DeleteUser", "Version", iamV, "UserName", "alice")},
		{false, "", form("Action", "CreateUser", "Version", "2011-06-15", "UserName", "x")},
		{false, "", form("Action", "Nope", "Version", iamV)},
	}
	runGolden(t, f, steps, "flow.txt")
}

// goldenStep is one request of a golden test.
type goldenStep struct {
	sts  bool
	as   string // "" root, else the user whose key signs (looked up by its first key)
	form url.Values
}

// runGolden sends the steps in order and compares every reply (status and XML) with
// testdata/<file>; -update rewrites it.
func runGolden(t *testing.T, f *fixture, steps []goldenStep, file string) {
	t.Helper()
	var out strings.Builder
	for _, st := range steps {
		f.caller = iam.Root(account, "AKIAROOTROOTROOTROOT")
		if st.as != "" {
			keys, _, err := f.svc.ListAccessKeys(context.Background(), account, st.as, iam.Page{})
			if err != nil || len(keys) == 0 {
				t.Fatalf("no key for %s: %v", st.as, err)
			}
			if f.caller, _, err = f.svc.Lookup(keys[0].ID, ""); err != nil {
				t.Fatal(err)
			}
		}
		h := f.iam
		if st.sts {
			h = f.sts
		}
		code, body := f.call(h, st.form)
		fmt.Fprintf(&out, "### %s as %q\n%d\n%s\n\n", st.form.Encode(), st.as, code, body)
	}
	golden := filepath.Join("testdata", file)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./iam/iamapi -run Golden -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), out.String()); diff != "" {
		t.Errorf("replies differ from %s (-want +got):\n%s", golden, diff)
	}
}

// element is a generic XML tree, to compare a reply's shape with the JSON the AWS CLI prints.
type element struct {
	XMLName  xml.Name
	Children []element `xml:",any"`
	Text     string    `xml:",chardata"`
}

// keys lists the child element names of the Result, one level down for structures, in the
// form "User.UserName", as the CLI's JSON output would.
func keys(t *testing.T, body, action string) []string {
	t.Helper()
	var root element
	if err := xml.Unmarshal([]byte(body), &root); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, res := range root.Children {
		if res.XMLName.Local != action+"Result" {
			continue
		}
		for _, c := range res.Children {
			if len(c.Children) == 0 {
				out = append(out, c.XMLName.Local)
			}
			for _, cc := range c.Children {
				out = append(out, c.XMLName.Local+"."+cc.XMLName.Local)
			}
		}
	}
	slices.Sort(out)
	return out
}

func jsonKeys(t *testing.T, s string) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			for kk := range sub {
				out = append(out, k+"."+kk)
			}
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestCLIExamples checks that each reply carries exactly the fields of the AWS CLI's recorded
// example output (aws/aws-cli awscli/examples/{iam,sts}/*.rst), so the CLI prints the same
// document for us as for AWS.
func TestCLIExamples(t *testing.T) {
	f := newFixture(t)
	ex := []struct {
		file string
		sts  bool
		form url.Values
		as   string
		// the example's output (create-policy's example predates PermissionsBoundaryUsageCount,
		// which botocore's model and today's CLI include; it is added here)
		json string
	}{
		{"iam/create-user.rst", false, form("Action", "CreateUser", "Version", "2010-05-08", "UserName", "Bob"), "",
			`{"User": {"UserName": "Bob", "Path": "/", "CreateDate": "2023-06-08T03:20:41.270Z", "UserId": "AIDAIOSFODNN7EXAMPLE", "Arn": "arn:aws:iam::123456789012:user/Bob"}}`},
		{"iam/create-access-key.rst", false, form("Action", "CreateAccessKey", "Version", "2010-05-08", "UserName", "Bob"), "",
			`{"AccessKey": {"UserName": "Bob", "Status": "Active", "CreateDate": "2013-06-06T20:42:26.421Z", "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY", "AccessKeyId": "AKIDPMS9RO4H3FEXAMPLE"}}`},
		{"iam/create-policy.rst", false, form("Action", "CreatePolicy", "Version", "2010-05-08", "PolicyName", "my-policy", "PolicyDocument", policyDoc), "",
			`{"Policy": {"PolicyName": "my-policy", "CreateDate": "2015-06-01T19:31:18.620Z", "AttachmentCount": 0, "IsAttachable": true, "PolicyId": "ZXR6A36LTYANPAI7NJ5UV", "DefaultVersionId": "v1", "Path": "/", "Arn": "arn:aws:iam::0123456789012:policy/my-policy", "UpdateDate": "2015-06-01T19:31:18.620Z", "PermissionsBoundaryUsageCount": 0}}`},
		{"sts/get-caller-identity.rst", true, form("Action", "GetCallerIdentity", "Version", "2011-06-15"), "Bob",
			`{"UserId": "AIDASAMPLEUSERID", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/DevAdmin"}`},
		{"sts/assume-role.rst", true, form("Action", "AssumeRole", "Version", "2011-06-15", "RoleArn", "arn:aws:iam::111122223333:role/r", "RoleSessionName", "s3-access-example"), "alice",
			`{"AssumedRoleUser": {"AssumedRoleId": "AROA3XFRBF535PLBIFPI4:s3-access-example", "Arn": "arn:aws:sts::123456789012:assumed-role/xaccounts3access/s3-access-example"}, "Credentials": {"SecretAccessKey": "x", "SessionToken": "x", "Expiration": "2016-03-15T00:05:07Z", "AccessKeyId": "ASIAJEXAMPLEXEG2JICEA"}}`},
	}
	ctx := context.Background()
	_, _ = f.svc.CreateUser(ctx, account, iam.CreateUserInput{Name: "alice", Path: "/ops/"})
	k, _ := f.svc.CreateAccessKey(ctx, account, "alice")
	_, _ = f.svc.CreateRole(ctx, account, iam.CreateRoleInput{Name: "r", TrustPolicy: trustDoc})
	for _, e := range ex {
		t.Run(e.file, func(t *testing.T) {
			f.caller = iam.Root(account, "AKIAROOTROOTROOTROOT")
			if e.as == "alice" {
				f.caller, _, _ = f.svc.Lookup(k.ID, "")
			} else if e.as == "Bob" {
				bk, err := f.svc.CreateAccessKey(ctx, account, "Bob")
				if err != nil {
					t.Fatal(err)
				}
				f.caller, _, _ = f.svc.Lookup(bk.ID, "")
			}
			h := f.iam
			if e.sts {
				h = f.sts
			}
			code, body := f.call(h, e.form)
			if code != http.StatusOK {
				t.Fatalf("%d %s", code, body)
			}
			if diff := cmp.Diff(jsonKeys(t, e.json), keys(t, body, e.form.Get("Action"))); diff != "" {
				t.Errorf("fields (-CLI example +ours):\n%s", diff)
			}
		})
	}
}

// TestGETAndEncoding: GET with a query string works as POST does, and policy documents come
// back RFC 3986-encoded, which url-decodes to the document exactly as submitted.
func TestGETAndEncoding(t *testing.T) {
	f := newFixture(t)
	doc := "{\"Version\": \"2012-10-17\",\n \"Statement\": {\"Effect\": \"Allow\", \"Action\": \"ec2:*\", \"Resource\": \"arn:aws:ec2:*:1:security-group/sg-1+2\"}}"
	q := form("Action", "CreateRole", "Version", "2010-05-08", "RoleName", "r", "AssumeRolePolicyDocument", doc)
	w := httptest.NewRecorder()
	f.iam.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/?"+q.Encode(), nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET: %d %s", w.Code, w.Body)
	}
	var got struct {
		Doc string `xml:"CreateRoleResult>Role>AssumeRolePolicyDocument"`
	}
	if err := xml.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(got.Doc, " +:{") {
		t.Errorf("not percent-encoded: %s", got.Doc)
	}
	dec, err := url.PathUnescape(got.Doc)
	if err != nil || dec != doc {
		t.Errorf("decoded %q, want %q (%v)", dec, doc, err)
	}
	w = httptest.NewRecorder()
	f.iam.ServeHTTP(w, httptest.NewRequest(http.MethodPut, "/", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", w.Code)
	}
}
