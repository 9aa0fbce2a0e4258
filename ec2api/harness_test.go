package ec2api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/store/bolt"
)

// testAPI is an API server on a real bolt store, with a signed client per account.
type testAPI struct {
	t        *testing.T
	srv      *httptest.Server
	accounts *auth.Registry
	svc      *control.Service
}

func newTestAPI(t *testing.T, quotas ...string) *testAPI {
	t.Helper()
	cfg := control.DefaultConfig()
	for _, q := range quotas {
		if err := cfg.Quotas.Set(q); err != nil {
			t.Fatal(err)
		}
	}
	return newTestAPIWith(t, cfg)
}

// newTestAPIWith is newTestAPI with the service's configuration given (a fixed clock, say).
func newTestAPIWith(t *testing.T, cfg control.Config) *testAPI {
	t.Helper()
	return newTestAPIConfigs(t, cfg, func(*Config) {})
}

// newTestAPIConfigs serves the API on a service opened with cfg; edit adjusts the API's
// configuration (whose log is discarded) first.
func newTestAPIConfigs(t *testing.T, cfg control.Config, edit func(*Config)) *testAPI {
	t.Helper()
	svc, accounts := openBackend(t, cfg)
	acfg := DefaultConfig()
	acfg.Log = discardLogger()
	edit(&acfg)
	srv := httptest.NewServer(New(acfg, svc, accounts, NewMetrics(prometheus.NewRegistry())))
	t.Cleanup(srv.Close)
	return &testAPI{t: t, srv: srv, accounts: accounts, svc: svc}
}

// openBackend opens what the API serves: the service (with cfg) and the account registry, on
// one bolt store in tb.TempDir() that is closed when the test ends.
func openBackend(tb testing.TB, cfg control.Config) (*control.Service, *auth.Registry) {
	tb.Helper()
	st, err := bolt.Open(filepath.Join(tb.TempDir(), "stockade.db"), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	ctx := context.Background()
	accounts, err := auth.Open(ctx, st)
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := control.Open(ctx, st, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return svc, accounts
}

// newEmulatorAPI is the handler (not a server) in emulator mode, its log discarded, on a new
// backend: for tests that drive it directly with odd requests.
func newEmulatorAPI(tb testing.TB) (*Server, *control.Service) {
	tb.Helper()
	svc, accounts := openBackend(tb, control.DefaultConfig())
	cfg := DefaultConfig()
	cfg.Emulator, cfg.Log = true, discardLogger()
	return New(cfg, svc, accounts, NewMetrics(prometheus.NewRegistry())), svc
}

// client is one account's view of the API.
type client struct {
	api    *testAPI
	acct   auth.Account
	region string
	// service is the credential scope's service ("": ec2).
	service string
	// token is a role session's token, sent (and signed) as X-Amz-Security-Token.
	token string
}

func (a *testAPI) newAccount(name string) *client {
	a.t.Helper()
	acct, err := a.accounts.Create(context.Background(), name, false)
	if err != nil {
		a.t.Fatal(err)
	}
	return &client{api: a, acct: acct, region: "us-east-1"}
}

// response is a decoded reply: the HTTP status, the error code if any, and the raw body.
type response struct {
	Status int
	Code   string
	Body   string
}

// call sends a signed POST with the given parameters (Action and Version are added).
func (c *client) call(action string, params ...string) response {
	c.api.t.Helper()
	if len(params)%2 != 0 {
		c.api.t.Fatalf("params must be key/value pairs: %v", params)
	}
	v := url.Values{"Action": {action}, "Version": {"2016-11-15"}}
	for i := 0; i < len(params); i += 2 {
		v.Add(params[i], params[i+1])
	}
	return c.send(v.Encode())
}

func (c *client) send(body string) response {
	t := c.api.t
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.api.srv.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	service := c.service
	if service == "" {
		service = "ec2"
	}
	status, b := c.do(req, body, service)
	r := response{Status: status, Body: string(b)}
	if status != http.StatusOK {
		var e struct {
			Code    string `xml:"Errors>Error>Code"`
			STSCode string `xml:"Error>Code"` // STS's ErrorResponse
		}
		if err := xml.Unmarshal(b, &e); err != nil {
			t.Fatalf("%s: undecodable error body %q: %v", body, b, err)
		}
		r.Code = e.Code + e.STSCode
	}
	return r
}

// do signs req, whose body is body, as a call of service in the client's region and returns
// the answer's status and body.
func (c *client) do(req *http.Request, body, service string) (int, []byte) {
	t := c.api.t
	t.Helper()
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: c.acct.AccessKeyID, SecretAccessKey: c.acct.SecretAccessKey, SessionToken: c.token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, c.region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// ok calls and fails the test unless the call succeeded; it returns the body.
func (c *client) ok(action string, params ...string) string {
	c.api.t.Helper()
	r := c.call(action, params...)
	if r.Status != http.StatusOK {
		c.api.t.Fatalf("%s %v: status %d: %s", action, params, r.Status, r.Body)
	}
	return r.Body
}

// fails calls and fails the test unless the call returned the EC2 error code.
func (c *client) fails(code, action string, params ...string) response {
	c.api.t.Helper()
	r := c.call(action, params...)
	if r.Code != code {
		c.api.t.Fatalf("%s %v: got status %d code %q, want %q: %s", action, params, r.Status, r.Code, code, r.Body)
	}
	return r
}

// field extracts the text of the first element with the given name from an XML body.
func field(body, name string) string {
	d := xml.NewDecoder(strings.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == name {
			var s string
			if d.DecodeElement(&s, &se) == nil {
				return s
			}
		}
	}
}

// xmlFields extracts the texts of every element with the given name.
func xmlFields(body, name string) []string {
	var out []string
	d := xml.NewDecoder(strings.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			return out
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == name {
			var s string
			if d.DecodeElement(&s, &se) == nil {
				out = append(out, s)
			}
		}
	}
}

func kv(pairs ...any) []string {
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = fmt.Sprint(p)
	}
	return out
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func nopBody(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
