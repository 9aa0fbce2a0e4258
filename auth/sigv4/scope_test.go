package sigv4

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
)

// TestScope: a signature is valid only for the service it names and for a region of the closed
// set, with AWS's messages (security review 3.3, 3.4, 6.3).
func TestScope(t *testing.T) {
	form := "Action=DescribeVpcs&Version=2016-11-15"
	ct := map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
	tests := []struct {
		name            string
		region, service string // the scope the SDK signs with
		call            string // the service called
		want            *Error // nil: accepted
	}{
		{"ec2 calling ec2", "us-east-1", "ec2", "ec2", nil},
		{"sts calling sts", "eu-west-1", "sts", "sts", nil},
		{"newest region", "ap-southeast-7", "ec2", "ec2", nil},
		{"sts scope calling ec2", "us-east-1", "sts", "ec2",
			&Error{"AuthFailure", "Credential should be scoped to correct service: 'ec2'.", BadScope}},
		{"ec2 scope calling sts", "us-east-1", "ec2", "sts",
			&Error{"AuthFailure", "Credential should be scoped to correct service: 'sts'.", BadScope}},
		{"typo region", "us-esat-1", "ec2", "ec2",
			&Error{"AuthFailure", "Credential should be scoped to a valid region, not 'us-esat-1'.", BadScope}},
		{"region of the right shape", "xx-fake-1", "ec2", "ec2",
			&Error{"AuthFailure", "Credential should be scoped to a valid region, not 'xx-fake-1'.", BadScope}},
		{"other partition", "cn-north-1", "ec2", "ec2",
			&Error{"AuthFailure", "Credential should be scoped to a valid region, not 'cn-north-1'.", BadScope}},
		{"empty-looking region", "local", "ec2", "ec2",
			&Error{"AuthFailure", "Credential should be scoped to a valid region, not 'local'.", BadScope}},
	}
	v := verifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(t, "POST", "http://localhost:8787/", form, ct, tt.region, tt.service)
			_, err := v.Verify(r, []byte(form), tt.call)
			var got *Error
			if err != nil {
				got = err.(*Error)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Verify (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRegionsOverride: a server's own region list replaces the default one.
func TestRegionsOverride(t *testing.T) {
	regions, err := ParseRegions(" us-east-1,xx-lab-1 ,us-east-1,")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"us-east-1", "xx-lab-1"}, regions); diff != "" {
		t.Errorf("ParseRegions (-want +got):\n%s", diff)
	}
	v := verifier()
	v.Regions = regions
	form := "Action=DescribeVpcs&Version=2016-11-15"
	for region, ok := range map[string]bool{"us-east-1": true, "xx-lab-1": true, "eu-west-1": false} {
		_, err := v.Verify(request(t, "POST", "http://localhost:8787/", form, nil, region, "ec2"), []byte(form), "ec2")
		if (err == nil) != ok {
			t.Errorf("region %s: %v, want accepted=%v", region, err, ok)
		}
	}
	for _, bad := range []string{"", " , ", "US-EAST-1", "us-east", "us_east_1", "us-east-1;x", strings.Repeat("a-", 40) + "1"} {
		if _, err := ParseRegions(bad); err == nil {
			t.Errorf("ParseRegions(%q) accepted", bad)
		}
	}
}

// TestLongRegionIsCheap: a huge region name is refused before the key lookup and its message
// quotes only a prefix (security review 6.2, 6.4: 40,000- and 500,000-character regions).
func TestLongRegionIsCheap(t *testing.T) {
	lookups := 0
	v := verifier()
	v.Secret = func(string) (string, bool) { lookups++; return secret, true }
	long := "us-east-1" + strings.Repeat("x", 500_000)
	r, _ := http.NewRequest("POST", "http://localhost:8787/", nil)
	r.Header.Set("X-Amz-Date", now.Format(timeFormat))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+akid+"/20250101/"+long+"/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	_, err := v.Verify(r, nil, "ec2")
	if reason(err) != BadScope || lookups != 0 {
		t.Fatalf("got %v (reason %d) after %d key lookups, want BadScope before any", err, reason(err), lookups)
	}
	if msg := err.(*Error).Message; len(msg) > 200 || !strings.HasPrefix(msg, "Credential should be scoped to a valid region, not 'us-east-1xxx") {
		t.Errorf("message of %d bytes: %.120q", len(msg), msg)
	}
}

// TestUnsignedPayload: EC2 signs the body; a signature over UNSIGNED-PAYLOAD authenticates
// nothing of it (security review 3.8, 3.10). A presigned URL without a body holds the whole
// request in what it signs, so botocore's presigned form stays accepted.
func TestUnsignedPayload(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
	signed := "Action=DescribeVpcs&Version=2016-11-15"
	tampered := "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0/16"

	t.Run("header", func(t *testing.T) {
		for _, body := range []string{signed, tampered, ""} {
			r, _ := http.NewRequest("POST", "http://localhost:8787/", strings.NewReader(signed))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("X-Amz-Content-Sha256", unsignedBody)
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, unsignedBody, "ec2", "us-east-1", now); err != nil {
				t.Fatal(err)
			}
			r.Host = r.URL.Host
			if _, err := verifier().Verify(r, []byte(body), "ec2"); reason(err) != BadSignature || !strings.Contains(err.Error(), "UNSIGNED-PAYLOAD") {
				t.Errorf("body %q: %v, want the UNSIGNED-PAYLOAD refusal", body, err)
			}
		}
	})
	presign := func(method string) *http.Request {
		r, _ := http.NewRequest(method, "http://localhost:8787/?Action=DescribeVpcs&Version=2016-11-15&X-Amz-Expires=300", nil)
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, unsignedBody, "ec2", "us-east-1", now)
		if err != nil {
			t.Fatal(err)
		}
		pr, _ := http.NewRequest(method, u, nil)
		pr.Host = pr.URL.Host
		return pr
	}
	t.Run("presigned with a body", func(t *testing.T) {
		r := presign("POST")
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if _, err := verifier().Verify(r, []byte("GroupName=injected-by-body"), "ec2"); reason(err) != BadSignature {
			t.Errorf("got %v, want refused", err)
		}
		r.Header.Set("X-Amz-Content-Sha256", unsignedBody)
		if _, err := verifier().Verify(r, []byte("GroupName=injected-by-body"), "ec2"); reason(err) != BadSignature {
			t.Errorf("with the header: got %v, want refused", err)
		}
	})
	t.Run("presigned without a body", func(t *testing.T) {
		if _, err := verifier().Verify(presign("GET"), nil, "ec2"); err != nil {
			t.Errorf("botocore-style presigned GET: %v", err)
		}
	})
}
