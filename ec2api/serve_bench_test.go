package ec2api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api"
	"github.com/stockade/stockade/store/bolt"
)

// BenchmarkServeDescribeGroupByID is the server's own cost of one signed
// DescribeSecurityGroups by GroupId (1,000 groups in the account): decode, verify, describe,
// render, without the network or the client.
func BenchmarkServeDescribeGroupByID(b *testing.B) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(b.TempDir(), "stockade.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	accounts, _ := auth.Open(ctx, st)
	svc, err := control.Open(ctx, st, control.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	acct, _ := accounts.Create(ctx, "alice", false)
	cfg := ec2api.DefaultConfig()
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	h := ec2api.New(cfg, svc, accounts, ec2api.NewMetrics(prometheus.NewRegistry()))
	sign := func(v url.Values) *http.Request {
		body := v.Encode()
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8787/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: acct.AccessKeyID, SecretAccessKey: acct.SecretAccessKey}
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ec2", "us-east-1", time.Now()); err != nil {
			b.Fatal(err)
		}
		return req
	}
	do := func(req *http.Request, body string) *httptest.ResponseRecorder {
		r := req.Clone(ctx)
		r.Body = io.NopCloser(strings.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	var gid string
	for i := range 1000 {
		v := url.Values{"Action": {"CreateSecurityGroup"}, "Version": {"2016-11-15"}, "GroupName": {"g" + strconv.Itoa(i)}, "GroupDescription": {"d"}}
		w := do(sign(v), v.Encode())
		if w.Code != 200 {
			b.Fatalf("create: %d %s", w.Code, w.Body)
		}
		s := w.Body.String()
		gid = s[strings.Index(s, "<groupId>")+9 : strings.Index(s, "</groupId>")]
	}
	v := url.Values{"Action": {"DescribeSecurityGroups"}, "Version": {"2016-11-15"}, "GroupId.1": {gid}}
	req, body := sign(v), v.Encode()
	if w := do(req, body); w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(gid)) {
		b.Fatalf("describe: %d %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		do(req, body)
	}
}
