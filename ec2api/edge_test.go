package ec2api

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/internal/syncbuf"
	"github.com/stockade/stockade/model"
)

// newEdgeAPI is newTestAPI with the API's configuration adjusted by edit.
func newEdgeAPI(t *testing.T, edit func(*Config)) *testAPI {
	t.Helper()
	return newTestAPIConfigs(t, control.DefaultConfig(), edit)
}

// regionsWithState lists the regions that have tenant state in the service.
func regionsWithState(svc *control.Service) []string {
	_, nets := svc.Networks()
	var out []string
	for _, n := range nets {
		out = append(out, n.Tenant.Region)
	}
	return out
}

// TestRegionsAreClosed: a credential scope naming a region the server does not serve is
// refused with AWS's message, and no tenant state comes into being for it (newcomer 9,
// security review 6.3).
func TestRegionsAreClosed(t *testing.T) {
	api := newTestAPI(t)
	alice := api.newAccount("alice")
	alice.ok("CreateVpc", "CidrBlock", "10.1.0.0/16") // us-east-1 exists for alice now (reads create nothing)
	rev := api.svc.Revision()
	for _, region := range []string{"us-esat-1", "xx-fake-1", "us-east1", "local"} {
		typo := &client{api: api, acct: alice.acct, region: region}
		for _, action := range []string{"DescribeVpcs", "CreateVpc"} {
			r := typo.fails("AuthFailure", action, "CidrBlock", "10.0.0.0/16")
			if want := "Credential should be scoped to a valid region, not '" + region + "'."; r.Status != http.StatusUnauthorized || field(r.Body, "Message") != want {
				t.Errorf("%s in %s: %d %q, want 401 %q", action, region, r.Status, field(r.Body, "Message"), want)
			}
		}
	}
	if diff := cmp.Diff([]string{"us-east-1"}, regionsWithState(api.svc)); diff != "" {
		t.Errorf("regions with state (-want +got):\n%s", diff)
	}
	if got := api.svc.Revision(); got != rev {
		t.Errorf("store revision %d after refused requests, want %d", got, rev)
	}
	// Every commercial region is served, the newest included.
	(&client{api: api, acct: alice.acct, region: "ap-southeast-7"}).ok("DescribeVpcs")
	(&client{api: api, acct: alice.acct, region: "mx-central-1"}).ok("DescribeVpcs")
}

// TestLongRegionIsRefusedCheaply: a 500 KB region name is refused before it reaches the
// service, and neither the reply nor the log holds it (security review 6.2, 6.4).
func TestLongRegionIsRefusedCheaply(t *testing.T) {
	var log syncbuf.Buffer
	api := newEdgeAPI(t, func(c *Config) { c.Log = slogTo(&log) })
	alice := api.newAccount("alice")
	long := "us-east-1" + strings.Repeat("x", 500_000)
	r := (&client{api: api, acct: alice.acct, region: long}).fails("AuthFailure", "CreateVpc", "CidrBlock", "10.0.0.0/16")
	if len(r.Body) > 1024 {
		t.Errorf("reply of %d bytes", len(r.Body))
	}
	if n := log.Len(); n > 4096 {
		t.Errorf("%d bytes of log for one refused request", n)
	}
	if got := regionsWithState(api.svc); len(got) != 0 {
		t.Errorf("regions with state: %.80q", got)
	}
}

// TestRegionsFlag: Config.Regions replaces the default set; DescribeRegions lists it.
func TestRegionsFlag(t *testing.T) {
	api := newEdgeAPI(t, func(c *Config) { c.Regions = []string{"xx-lab-1", "us-east-1"} })
	alice := api.newAccount("alice")
	lab := &client{api: api, acct: alice.acct, region: "xx-lab-1"}
	lab.ok("DescribeVpcs")
	(&client{api: api, acct: alice.acct, region: "eu-west-1"}).fails("AuthFailure", "DescribeVpcs")

	if diff := cmp.Diff([]string{"us-east-1", "xx-lab-1"}, xmlFields(lab.ok("DescribeRegions"), "regionName")); diff != "" {
		t.Errorf("DescribeRegions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ec2.xx-lab-1.amazonaws.com"}, xmlFields(lab.ok("DescribeRegions", "RegionName.1", "xx-lab-1"), "regionEndpoint")); diff != "" {
		t.Errorf("DescribeRegions RegionName.1 (-want +got):\n%s", diff)
	}
	if got := xmlFields(lab.ok("DescribeRegions", "Filter.1.Name", "region-name", "Filter.1.Value.1", "us-*"), "regionName"); !cmp.Equal(got, []string{"us-east-1"}) {
		t.Errorf("region-name filter: %v", got)
	}
	r := lab.fails("InvalidParameterValue", "DescribeRegions", "RegionName.1", "eu-west-1")
	if msg := field(r.Body, "Message"); msg != "Invalid region: [eu-west-1]" {
		t.Errorf("message %q", msg)
	}
	lab.fails("InvalidParameterValue", "DescribeRegions", "Filter.1.Name", "nope", "Filter.1.Value.1", "x")
}

// TestDescribeRegionsDefault lists every commercial region, not only the caller's.
func TestDescribeRegionsDefault(t *testing.T) {
	api := newTestAPI(t)
	got := xmlFields(api.newAccount("alice").ok("DescribeRegions", "AllRegions", "true"), "regionName")
	for _, want := range []string{"us-east-1", "eu-central-2", "ap-southeast-7", "il-central-1", "mx-central-1", "sa-east-1"} {
		if !contains(got, want) {
			t.Errorf("DescribeRegions lacks %s: %v", want, got)
		}
	}
	if contains(got, "cn-north-1") || contains(got, "us-gov-west-1") || len(got) < 30 {
		t.Errorf("DescribeRegions: %v", got)
	}
}

// TestEmulatorRegionsAreClosed: emulator mode skips signatures, not the region set.
func TestEmulatorRegionsAreClosed(t *testing.T) {
	api := newEdgeAPI(t, func(c *Config) { c.Emulator = true })
	alice := api.newAccount("alice")
	(&client{api: api, acct: alice.acct, region: "us-esat-1"}).fails("AuthFailure", "CreateVpc", "CidrBlock", "10.0.0.0/16")
	(&client{api: api, acct: alice.acct, region: "eu-west-1"}).ok("CreateVpc", "CidrBlock", "10.1.0.0/16")
	if diff := cmp.Diff([]string{"eu-west-1"}, regionsWithState(api.svc)); diff != "" {
		t.Errorf("regions with state (-want +got):\n%s", diff)
	}
}

// TestServiceScope: an sts signature does not call EC2 and an ec2 one does not call STS
// (security review 3.4).
func TestServiceScope(t *testing.T) {
	api := newTestAPI(t)
	alice := api.newAccount("alice")
	asSTS := &client{api: api, acct: alice.acct, region: "us-east-1", service: "sts"}
	r := asSTS.fails("AuthFailure", "DescribeVpcs")
	if msg := field(r.Body, "Message"); r.Status != http.StatusUnauthorized || msg != "Credential should be scoped to correct service: 'ec2'." {
		t.Errorf("sts scope calling DescribeVpcs: %d %q", r.Status, msg)
	}
	r = alice.fails("SignatureDoesNotMatch", "GetCallerIdentity")
	if msg := field(r.Body, "Message"); r.Status != http.StatusForbidden || msg != "Credential should be scoped to correct service: 'sts'." {
		t.Errorf("ec2 scope calling GetCallerIdentity: %d %q", r.Status, msg)
	}
	if r := asSTS.call("GetCallerIdentity"); r.Status != 200 || field(r.Body, "Account") != alice.acct.ID {
		t.Errorf("GetCallerIdentity: %d %s", r.Status, r.Body)
	}
}

// TestSTSErrors: STS answers in its own codes and error shape (newcomer 10).
func TestSTSErrors(t *testing.T) {
	api := newTestAPI(t)
	alice := api.newAccount("alice")
	unknown := alice.acct
	unknown.AccessKeyID = "AKIAUNKNOWNUNKNOWN12"
	wrong := alice.acct
	wrong.SecretAccessKey = "wrong"
	tests := []struct {
		name    string
		send    func() response
		status  int
		code    string
		message string
	}{
		{"unknown key", func() response {
			return (&client{api: api, acct: unknown, region: "us-east-1", service: "sts"}).call("GetCallerIdentity")
		}, 403, "InvalidClientTokenId", "The security token included in the request is invalid."},
		{"wrong secret", func() response {
			return (&client{api: api, acct: wrong, region: "us-east-1", service: "sts"}).call("GetCallerIdentity")
		}, 403, "SignatureDoesNotMatch", model.SignatureDoesNotMatch.New().Message},
		{"unknown region", func() response {
			return (&client{api: api, acct: alice.acct, region: "us-esat-1", service: "sts"}).call("GetCallerIdentity")
		}, 403, "SignatureDoesNotMatch", "Credential should be scoped to a valid region, not 'us-esat-1'."},
		{"unsigned", func() response {
			return postRaw(t, api.srv.URL, "Action=GetCallerIdentity&Version=2011-06-15", nil)
		}, 403, "MissingAuthenticationToken", "Request is missing Authentication Token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.send()
			type stsError struct {
				Type, Code, Message string
			}
			var got struct {
				Error     stsError
				RequestID string `xml:"RequestId"`
			}
			decodeXML(t, r.Body, "ErrorResponse", &got)
			want := stsError{"Sender", tt.code, tt.message}
			if diff := cmp.Diff(want, got.Error); diff != "" || r.Status != tt.status || got.RequestID == "" {
				t.Errorf("status %d (want %d), request ID %q, error (-want +got):\n%s", r.Status, tt.status, got.RequestID, diff)
			}
		})
	}
}

// TestUnsignedPayloadIsRefused: a header signature over UNSIGNED-PAYLOAD authenticates no body,
// so the body it arrives with is not acted on (security review 3.8).
func TestUnsignedPayloadIsRefused(t *testing.T) {
	api := newTestAPI(t)
	alice := api.newAccount("alice")
	vpcs := len(xmlFields(alice.ok("DescribeVpcs"), "vpcId"))
	r := postRaw(t, api.srv.URL, "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.9.0.0/16", func(req *http.Request) {
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		creds := aws.Credentials{AccessKeyID: alice.acct.AccessKeyID, SecretAccessKey: alice.acct.SecretAccessKey}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "ec2", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	})
	if r.Status != http.StatusUnauthorized || r.Code != "AuthFailure" {
		t.Errorf("UNSIGNED-PAYLOAD: %d %s", r.Status, r.Body)
	}
	if n := len(xmlFields(alice.ok("DescribeVpcs"), "vpcId")); n != vpcs {
		t.Errorf("%d VPCs after the refused CreateVpc, want %d", n, vpcs)
	}
}

// postRaw sends body as a form POST, signed by sign when it is not nil.
func postRaw(t *testing.T, endpoint, body string, sign func(*http.Request)) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if sign != nil {
		sign(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	code := field(b.String(), "Code")
	return response{Status: resp.StatusCode, Code: code, Body: b.String()}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// decodeXML decodes body, whose root element must be root, into v.
func decodeXML(t *testing.T, body, root string, v any) {
	t.Helper()
	if !strings.Contains(body, "<"+root+" ") && !strings.Contains(body, "<"+root+">") {
		t.Fatalf("root is not %s: %s", root, body)
	}
	if err := xml.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
}
