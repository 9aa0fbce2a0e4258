package sigv4

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var errBadToken = errors.New("bad token")

// TestSessionTokens: with a Credentials function the verifier admits temporary credentials
// signed by the AWS SDK (the token is a signed header), hands the token to the function and
// returns it in the Credential; the function's error comes back unchanged; an unsigned token
// header is refused.
func TestSessionTokens(t *testing.T) {
	const body = "Action=DescribeVpcs&Version=2016-11-15"
	v := &Verifier{
		Credentials: func(id, token string) (string, error) {
			if id != akid || token != "tok" {
				return "", errBadToken
			}
			return secret, nil
		},
		Regions: CommercialRegions(),
		Now:     func() time.Time { return now },
	}
	sign := func(token string) *http.Request {
		r, err := http.NewRequest("POST", "http://localhost:8787/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hash([]byte(body)), "ec2", "us-east-1", now); err != nil {
			t.Fatal(err)
		}
		r.Host = r.URL.Host
		return r
	}
	cred, err := v.Verify(sign("tok"), []byte(body), "ec2")
	if err != nil || cred.SessionToken != "tok" {
		t.Fatalf("signed token: %+v, %v", cred, err)
	}
	if _, err := v.Verify(sign("other"), []byte(body), "ec2"); !errors.Is(err, errBadToken) {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := v.Verify(sign(""), []byte(body), "ec2"); !errors.Is(err, errBadToken) {
		t.Errorf("no token: %v", err)
	}
	r := sign("")
	r.Header.Set("X-Amz-Security-Token", "tok")
	if _, err := v.Verify(r, []byte(body), "ec2"); errCode(err) != "AuthFailure" || reason(err) != BadSignature {
		t.Errorf("unsigned token header: %v", err)
	}
}
