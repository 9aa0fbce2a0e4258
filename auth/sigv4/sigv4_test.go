package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	akid   = "AKIAIOSFODNN7EXAMPLE"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var now = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func verifier() *Verifier {
	return &Verifier{
		Secret:  func(id string) (string, bool) { return secret, id == akid },
		Regions: CommercialRegions(),
		Now:     func() time.Time { return now },
	}
}

func hash(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// request builds a request signed by the AWS SDK's signer, the oracle.
func request(t *testing.T, method, target, body string, headers map[string]string, region, service string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hash([]byte(body)), service, region, now); err != nil {
		t.Fatal(err)
	}
	// What the server sees: Host moves to r.Host, the body is read separately.
	r.Host = r.URL.Host
	return r
}

func errCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestVerifySDKSignedRequests(t *testing.T) {
	form := "Action=CreateSecurityGroup&Version=2016-11-15&GroupName=web&GroupDescription=Web+tier%20%2B+%7E*%E2%9C%93"
	ct := map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
	tests := []struct {
		name, method, target, body string
		headers                    map[string]string
		region, service            string
	}{
		{"post form", "POST", "http://localhost:8787/", form, ct, "us-east-1", "ec2"},
		{"sts", "POST", "http://127.0.0.1:8787/", "Action=GetCallerIdentity&Version=2011-06-15", ct, "eu-west-1", "sts"},
		{"get with query", "GET", "http://localhost:8787/?Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=tag%3AName&Filter.1.Value.1=a%20b%2Bc~*", "", nil, "us-east-1", "ec2"},
		{"extra signed headers", "POST", "http://localhost:8787/", form, map[string]string{"Content-Type": "application/x-www-form-urlencoded",
			"Amz-Sdk-Invocation-Id": "  id   with  spaces ", "Amz-Sdk-Request": "attempt=1; max=3"}, "us-east-1", "ec2"},
		{"other path", "POST", "http://localhost:8787/some/path%20x", form, ct, "us-east-1", "ec2"},
		{"default port", "POST", "http://example.com/", form, ct, "ap-southeast-2", "ec2"},
	}
	v := verifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(t, tt.method, tt.target, tt.body, tt.headers, tt.region, tt.service)
			cred, err := v.Verify(r, []byte(tt.body), tt.service)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if cred.AccessKeyID != akid || cred.Region != tt.region || cred.Service != tt.service {
				t.Errorf("credential %+v", cred)
			}
			if id, err := Identify(r); err != nil || id != cred {
				t.Errorf("Identify = %+v, %v", id, err)
			}
		})
	}
}

func TestVerifyPresigned(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://localhost:8787/?Action=DescribeVpcs&Version=2016-11-15", nil)
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
	q := r.URL.Query()
	q.Set("X-Amz-Expires", "300")
	r.URL.RawQuery = q.Encode()
	signedURL, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, hash(nil), "ec2", "us-east-1", now)
	if err != nil {
		t.Fatal(err)
	}
	pr, _ := http.NewRequest("GET", signedURL, nil)
	pr.Host = pr.URL.Host
	if _, err := verifier().Verify(pr, nil, "ec2"); err != nil {
		t.Fatalf("presigned: %v", err)
	}
	late := verifier()
	late.Now = func() time.Time { return now.Add(10 * time.Minute) }
	if code := errCode(func() error { _, err := late.Verify(pr, nil, "ec2"); return err }()); code != "RequestExpired" {
		t.Errorf("expired presigned URL: %s", code)
	}
}

func TestTampering(t *testing.T) {
	body := "Action=DescribeVpcs&Version=2016-11-15"
	ct := map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
	fresh := func() *http.Request {
		return request(t, "POST", "http://localhost:8787/", body, ct, "us-east-1", "ec2")
	}
	tests := []struct {
		name   string
		mutate func(r *http.Request) []byte
		code   string
		reason Reason
	}{
		{"body byte", func(r *http.Request) []byte { return []byte(strings.Replace(body, "Vpcs", "Vpcz", 1)) }, "AuthFailure", BadSignature},
		{"signed header", func(r *http.Request) []byte { r.Header.Set("Content-Type", "text/plain"); return []byte(body) }, "AuthFailure", BadSignature},
		{"host", func(r *http.Request) []byte { r.Host = "localhost:8788"; return []byte(body) }, "AuthFailure", BadSignature},
		{"query added", func(r *http.Request) []byte { r.URL.RawQuery = "Action=DeleteVpc"; return []byte(body) }, "AuthFailure", BadSignature},
		{"date", func(r *http.Request) []byte { r.Header.Set("X-Amz-Date", "20250101T120001Z"); return []byte(body) }, "AuthFailure", BadSignature},
		{"signature hex", func(r *http.Request) []byte {
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:len(h)-1]+flip(h[len(h)-1]))
			return []byte(body)
		}, "AuthFailure", BadSignature},
		{"region", func(r *http.Request) []byte { swapScope(r, "/us-east-1/", "/us-west-2/"); return []byte(body) }, "AuthFailure", BadSignature},
		{"unknown region", func(r *http.Request) []byte { swapScope(r, "/us-east-1/", "/us-esat-1/"); return []byte(body) }, "AuthFailure", BadScope},
		{"service", func(r *http.Request) []byte { swapScope(r, "/ec2/", "/s3/"); return []byte(body) }, "AuthFailure", BadScope},
		{"unknown key", func(r *http.Request) []byte { swapScope(r, akid, "AKIAUNKNOWN"); return []byte(body) }, "AuthFailure", UnknownKey},
		{"unsigned", func(r *http.Request) []byte { r.Header.Del("Authorization"); return []byte(body) }, "MissingParameter", Unsigned},
		{"garbled", func(r *http.Request) []byte {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential")
			return []byte(body)
		}, "IncompleteSignature", Malformed},
		{"no signature", func(r *http.Request) []byte {
			r.Header.Set("Authorization", strings.Split(r.Header.Get("Authorization"), ", Signature=")[0])
			return []byte(body)
		}, "IncompleteSignature", Malformed},
		{"security token", func(r *http.Request) []byte { r.Header.Set("X-Amz-Security-Token", "tok"); return []byte(body) }, "AuthFailure", UnknownKey},
		{"content hash mismatch", func(r *http.Request) []byte {
			r.Header.Set("X-Amz-Content-Sha256", hash([]byte("x")))
			return []byte(body)
		}, "AuthFailure", BadSignature},
	}
	v := verifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fresh()
			b := tt.mutate(r)
			_, err := v.Verify(r, b, "ec2")
			if errCode(err) != tt.code || reason(err) != tt.reason {
				t.Errorf("got %v (reason %d), want %s (reason %d)", err, reason(err), tt.code, tt.reason)
			}
		})
	}
	// Time: stale and future signatures.
	r := fresh()
	stale := verifier()
	stale.Now = func() time.Time { return now.Add(time.Hour) }
	if _, err := stale.Verify(r, []byte(body), "ec2"); errCode(err) != "RequestExpired" {
		t.Errorf("stale: %v", err)
	}
	early := verifier()
	early.Now = func() time.Time { return now.Add(-time.Hour) }
	if _, err := early.Verify(r, []byte(body), "ec2"); errCode(err) != "AuthFailure" {
		t.Errorf("future: %v", err)
	}
}

func reason(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return -1
}

func flip(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

func swapScope(r *http.Request, old, new string) {
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
}

// TestSignRoundTrip checks our own signer against the verifier, which the SDK oracle checks.
func TestSignRoundTrip(t *testing.T) {
	body := "Action=DescribeVpcs&Version=2016-11-15"
	r, _ := http.NewRequest("POST", "http://localhost:8787/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Host = r.URL.Host
	Sign(r, []byte(body), akid, secret, "us-east-1", "ec2", now)
	if _, err := verifier().Verify(r, []byte(body), "ec2"); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
	f.Add("AWS4-HMAC-SHA256 Credential=,,,=")
	f.Fuzz(func(t *testing.T, h string) {
		s, err := parseAuthorization(h)
		if err != nil {
			return
		}
		// What is accepted names a five-part credential, headers and a signature.
		if s.cred.AccessKeyID == "" || s.signedHeaders == "" || s.signature == "" || len(s.cred.Date) != 8 {
			t.Fatalf("accepted incomplete header %q: %+v", h, s)
		}
		again, err := parseAuthorization("AWS4-HMAC-SHA256 Credential=" + s.cred.AccessKeyID + "/" + s.cred.Date + "/" + s.cred.Region + "/" + s.cred.Service +
			"/aws4_request, SignedHeaders=" + s.signedHeaders + ", Signature=" + s.signature)
		if err != nil || again.cred != s.cred || again.signature != s.signature {
			t.Fatalf("round trip of %q: %+v %v", h, again, err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	body := []byte("Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=sg-0123456789abcdef0")
	r, _ := http.NewRequest("POST", "http://localhost:8787/", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Host = r.URL.Host
	Sign(r, body, akid, secret, "us-east-1", "ec2", now)
	v := verifier()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, body, "ec2"); err != nil {
			b.Fatal(err)
		}
	}
}
