package authz

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/store/bolt"
	"github.com/stockade/stockade/trail"
)

// recordTrail gives w's front a trail: calls are recorded through the returned Recorder,
// which the test flushes (nothing runs it in the background).
func (w *world) recordTrail() *trail.Recorder {
	w.t.Helper()
	var err error
	if w.tlog, err = trail.OpenLog(filepath.Join(filepath.Dir(w.path), "trail-log"), trail.LogOptions{}); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { w.tlog.Close() })
	rec := trail.NewRecorder(w.tlog, w.st, trail.RecorderOptions{})
	if w.front, err = NewFront(w.a, w.svc, FrontConfig{Now: func() time.Time { return w.now }, Recorder: rec}); err != nil {
		w.t.Fatal(err)
	}
	return rec
}

// event is what the tests compare of one LookupEvents event and its record.
type event struct {
	Name, Username, ErrorCode, IdentityType, ARN, Region string
	ReadOnly                                             bool
	Resources                                            []trail.Resource
}

// lookup runs LookupEvents in one region of acct with one attribute and returns the events,
// sorted by name (events of one second come in eventID order, which is random), and the raw
// records.
func lookup(t *testing.T, l *trail.Lookup, acct, region, key, value string) ([]event, []string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"LookupAttributes": []map[string]string{{"AttributeKey": key, "AttributeValue": value}}})
	res := l.Serve(context.Background(), trail.Scope{Account: acct, Region: region}, trail.Target, body)
	if res.Err != nil {
		t.Fatalf("LookupEvents: %+v", res.Err)
	}
	var out struct {
		Events []struct {
			EventName, Username, CloudTrailEvent string
			Resources                            []trail.Resource
		}
	}
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatal(err)
	}
	var events []event
	var raw []string
	for _, e := range out.Events {
		var r trail.Record
		if err := json.Unmarshal([]byte(e.CloudTrailEvent), &r); err != nil {
			t.Fatal(err)
		}
		events = append(events, event{Name: e.EventName, Username: e.Username, ErrorCode: r.ErrorCode,
			IdentityType: r.UserIdentity.Type, ARN: r.UserIdentity.ARN, Region: r.AWSRegion, ReadOnly: r.ReadOnly,
			Resources: e.Resources})
		raw = append(raw, e.CloudTrailEvent)
	}
	slices.SortFunc(events, func(a, b event) int { return strings.Compare(a.Name+a.ErrorCode, b.Name+b.ErrorCode) })
	return events, raw
}

// TestTrailOfIAMAndSTS: a user creates a user and its access key, is refused and fails, and
// assumes a role whose session asks who it is; LookupEvents then finds every call, IAM's in
// us-east-1 and STS's in the signing region, with the caller's userIdentity, and no secret.
func TestTrailOfIAMAndSTS(t *testing.T) {
	w := newWorld(t)
	ctx, acct := context.Background(), w.root.ID
	rec := w.recordTrail()
	mustOK := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustOK(w.svc.PutPolicy(ctx, acct, iam.UserEntity, "alice", "admin", `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":["iam:CreateUser","iam:CreateAccessKey"],"Resource":"*"}]}`))

	status, body := w.call("iam", w.alice, url.Values{"Action": {"CreateUser"}, "UserName": {"dave"}, "Path": {"/ops/"}})
	if status != 200 {
		t.Fatalf("CreateUser: %d %s", status, body)
	}
	var created struct {
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}
	mustOK(xml.Unmarshal([]byte(body), &created))
	status, body = w.call("iam", w.alice, url.Values{"Action": {"CreateAccessKey"}, "UserName": {"dave"}})
	var key struct {
		ID     string `xml:"CreateAccessKeyResult>AccessKey>AccessKeyId"`
		Secret string `xml:"CreateAccessKeyResult>AccessKey>SecretAccessKey"`
	}
	if xml.Unmarshal([]byte(body), &key); status != 200 || key.Secret == "" {
		t.Fatalf("CreateAccessKey: %d %s", status, body)
	}
	if status, _ := w.call("iam", w.alice, url.Values{"Action": {"DeleteUser"}, "UserName": {"dave"}}); status != 403 {
		t.Fatalf("DeleteUser: %d, want a denial", status)
	}
	if status, _ := w.call("iam", w.alice, url.Values{"Action": {"CreateUser"}, "UserName": {"DAVE"}}); status != 409 {
		t.Fatalf("second CreateUser: %d, want EntityAlreadyExists", status)
	}
	sess := w.assume(w.alice, nil)
	if status, _ := w.call("sts", sess, url.Values{"Action": {"GetCallerIdentity"}}); status != 200 {
		t.Fatalf("GetCallerIdentity: %d", status)
	}
	// Authentication failures have no identity to record.
	if status, _ := w.call("iam", aws.Credentials{AccessKeyID: "AKIAUNKNOWNKEY000000", SecretAccessKey: "x"},
		url.Values{"Action": {"ListUsers"}}); status != 403 {
		t.Fatalf("unknown key: %d", status)
	}
	rec.Flush(ctx)

	l, err := trail.NewLookup(ctx, w.st, w.tlog, trail.LookupOptions{Rate: -1})
	mustOK(err)
	aliceARN := "arn:aws:iam::" + acct + ":user/ops/alice"
	sessionARN := "arn:aws:sts::" + acct + ":assumed-role/sg-admin/alice"
	dave := []trail.Resource{{ResourceType: "AWS::IAM::User", ResourceName: "dave"}}
	iamEvents, raw := lookup(t, l, acct, "us-east-1", "EventSource", "iam.amazonaws.com")
	want := []event{
		{Name: "CreateAccessKey", Username: "alice", IdentityType: "IAMUser", ARN: aliceARN, Region: "us-east-1",
			Resources: append(dave, trail.Resource{ResourceType: "AWS::IAM::AccessKey", ResourceName: key.ID})},
		{Name: "CreateUser", Username: "alice", IdentityType: "IAMUser", ARN: aliceARN, Region: "us-east-1", Resources: dave},
		{Name: "CreateUser", Username: "alice", ErrorCode: "EntityAlreadyExists", IdentityType: "IAMUser", ARN: aliceARN,
			Region: "us-east-1", Resources: []trail.Resource{{ResourceType: "AWS::IAM::User", ResourceName: "DAVE"}}},
		{Name: "DeleteUser", Username: "alice", ErrorCode: "AccessDenied", IdentityType: "IAMUser", ARN: aliceARN,
			Region: "us-east-1", Resources: dave},
	}
	if diff := cmp.Diff(want, iamEvents); diff != "" {
		t.Errorf("IAM events (-want +got):\n%s", diff)
	}
	for _, r := range raw {
		if strings.Contains(r, key.Secret) || strings.Contains(r, "ecretAccessKey") {
			t.Errorf("a record carries the secret: %s", r)
		}
	}
	if !slices.ContainsFunc(raw, func(r string) bool { return strings.Contains(r, `"requestID":"`+created.RequestID+`"`) }) {
		t.Errorf("no record has CreateUser's request ID %s", created.RequestID)
	}

	stsEvents, raw := lookup(t, l, acct, "eu-west-1", "EventSource", "sts.amazonaws.com")
	want = []event{
		{Name: "AssumeRole", Username: "alice", IdentityType: "IAMUser", ARN: aliceARN, Region: "eu-west-1", ReadOnly: true,
			Resources: []trail.Resource{{ResourceType: "AWS::IAM::Role", ResourceName: "sg-admin"},
				{ResourceType: "AWS::IAM::AccessKey", ResourceName: sess.AccessKeyID}}},
		{Name: "GetCallerIdentity", Username: "alice", IdentityType: "AssumedRole", ARN: sessionARN, Region: "eu-west-1", ReadOnly: true},
	}
	if diff := cmp.Diff(want, stsEvents, cmp.Transformer("nil", func(r []trail.Resource) []trail.Resource {
		if len(r) == 0 {
			return nil
		}
		return r
	})); diff != "" {
		t.Errorf("STS events (-want +got):\n%s", diff)
	}
	for _, r := range raw {
		if strings.Contains(r, sess.SecretAccessKey) {
			t.Errorf("a record carries the session's secret: %s", r)
		}
		if strings.Contains(r, `"eventName":"GetCallerIdentity"`) &&
			!strings.Contains(r, `"sessionIssuer":{"type":"Role","principalId":"AROA`) {
			t.Errorf("session record without its issuer: %s", r)
		}
		if strings.Contains(r, `"eventName":"AssumeRole"`) &&
			!strings.Contains(r, `"resources":[{"ARN":"`+w.roleARN+`","accountId":"`+acct+`","type":"AWS::IAM::Role"}]`) {
			t.Errorf("AssumeRole without its resources entry: %s", r)
		}
	}

	// The export writes IAM's records under us-east-1's prefix, STS's under the signing
	// region's.
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	mustOK(err)
	defer root.Close()
	files, _, err := trail.Export(ctx, w.st, w.tlog, root, time.Now().Add(time.Hour))
	mustOK(err)
	exported := map[string][]string{} // region → event names
	for _, f := range files {
		region := strings.Split(f, "/")[3] // AWSLogs/ACCOUNT/CloudTrail/REGION/…
		fh, err := os.Open(filepath.Join(dir, f))
		mustOK(err)
		zr, err := gzip.NewReader(fh)
		mustOK(err)
		var content struct{ Records []trail.Record }
		mustOK(json.NewDecoder(zr).Decode(&content))
		fh.Close()
		for _, r := range content.Records {
			if r.EventSource != "ec2.amazonaws.com" {
				exported[region] = append(exported[region], r.EventName)
			}
		}
	}
	for _, names := range exported {
		slices.Sort(names)
	}
	wantExport := map[string][]string{"us-east-1": {"CreateAccessKey", "CreateUser", "CreateUser", "DeleteUser"},
		"eu-west-1": {"AssumeRole", "GetCallerIdentity"}}
	if diff := cmp.Diff(wantExport, exported); diff != "" {
		t.Errorf("exported IAM and STS records by region (-want +got):\n%s", diff)
	}

	// The other attributes find the same records.
	for _, q := range []struct{ region, key, value string }{
		{"us-east-1", "Username", "alice"}, {"us-east-1", "ResourceName", "dave"}, {"us-east-1", "EventName", "CreateAccessKey"},
		{"eu-west-1", "ResourceName", "sg-admin"}, {"eu-west-1", "Username", "alice"},
	} {
		got, _ := lookup(t, l, acct, q.region, q.key, q.value)
		n := map[string]int{"Username/us-east-1": 4, "ResourceName/us-east-1": 3, "EventName/us-east-1": 1,
			"ResourceName/eu-west-1": 1, "Username/eu-west-1": 2}[q.key+"/"+q.region]
		if len(got) != n {
			t.Errorf("%s=%s in %s: %d events, want %d: %+v", q.key, q.value, q.region, len(got), n, got)
		}
	}
}

// TestIAMWriteCommitsWithItsRecord: a crash after an IAM change commits, before its record
// is completed (the Recorder never writes), leaves the change with its staged record: both
// are there when the server starts again.
func TestIAMWriteCommitsWithItsRecord(t *testing.T) {
	w := newWorld(t)
	ctx, acct := context.Background(), w.root.ID
	w.recordTrail() // never flushed: the "crash" loses its queue
	status, body := w.call("iam", w.rootCreds(), url.Values{"Action": {"CreateUser"}, "UserName": {"erin"}})
	if status != 200 {
		t.Fatalf("CreateUser: %d %s", status, body)
	}
	w.st.Close()

	st, err := bolt.Open(w.path, bolt.Options{Staged: []string{trail.OutboxPrefix}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := iam.Open(ctx, st, iam.Config{Validate: func(string) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetUser(ctx, acct, "erin"); err != nil {
		t.Fatalf("the change is lost: %v", err)
	}
	tlog, err := trail.OpenLog(filepath.Join(filepath.Dir(w.path), "trail-log"), trail.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tlog.Close()
	if err := trail.NewRecorder(tlog, st, trail.RecorderOptions{}).Recover(ctx, time.Now().Add(time.Second)); err != nil { // as the server starts
		t.Fatal(err)
	}
	l, err := trail.NewLookup(ctx, st, tlog, trail.LookupOptions{Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	got, raw := lookup(t, l, acct, "us-east-1", "ResourceName", "erin")
	want := []event{{Name: "CreateUser", Username: "root", IdentityType: "Root", ARN: "arn:aws:iam::" + acct + ":root",
		Region: "us-east-1", Resources: []trail.Resource{{ResourceType: "AWS::IAM::User", ResourceName: "erin"}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("records after the crash (-want +got):\n%s", diff)
	}
	if !strings.Contains(raw[0], `"responseElements":null`) {
		t.Errorf("staged record has a response it cannot have known: %s", raw[0])
	}
}
