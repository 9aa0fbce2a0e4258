package ec2api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stockade/stockade/image"
)

func TestAuthentication(t *testing.T) {
	api := newTestAPI(t)
	alice := api.newAccount("alice")
	body := url.Values{"Action": {"DescribeVpcs"}, "Version": {"2016-11-15"}}.Encode()
	post := func(sign func(*http.Request)) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, api.srv.URL+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sign(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, field(b.String(), "Code")
	}
	signWith := func(akid, secret string, at time.Time, region string) func(*http.Request) {
		return func(r *http.Request) {
			creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
			v4.NewSigner().SignHTTP(context.Background(), creds, r, sha(body), "ec2", region, at)
		}
	}
	tests := []struct {
		name   string
		sign   func(*http.Request)
		status int
		code   string
	}{
		{"valid", signWith(alice.acct.AccessKeyID, alice.acct.SecretAccessKey, time.Now(), "us-east-1"), 200, ""},
		{"unsigned", func(*http.Request) {}, 400, "MissingParameter"},
		{"wrong secret", signWith(alice.acct.AccessKeyID, "wrong", time.Now(), "us-east-1"), 401, "AuthFailure"},
		{"unknown key", signWith("AKIAUNKNOWNUNKNOWN12", alice.acct.SecretAccessKey, time.Now(), "us-east-1"), 401, "AuthFailure"},
		{"stale", signWith(alice.acct.AccessKeyID, alice.acct.SecretAccessKey, time.Now().Add(-time.Hour), "us-east-1"), 400, "RequestExpired"},
		{"tampered after signing", func(r *http.Request) {
			signWith(alice.acct.AccessKeyID, alice.acct.SecretAccessKey, time.Now(), "us-east-1")(r)
			r.Body = nopBody(strings.Replace(body, "DescribeVpcs", "DescribeTags", 1))
		}, 401, "AuthFailure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code := post(tt.sign)
			if status != tt.status || code != tt.code {
				t.Errorf("got %d %q, want %d %q", status, code, tt.status, tt.code)
			}
		})
	}
}

func TestAccountsAndRegionsAreIsolated(t *testing.T) {
	api := newTestAPI(t)
	alice, bob := api.newAccount("alice"), api.newAccount("bob")
	vpc, web := vpcWithGroup(t, alice, "web")
	// Bob cannot see or touch Alice's resources: they do not exist for him.
	bob.fails("InvalidGroup.NotFound", "DescribeSecurityGroups", "GroupId.1", web)
	bob.fails("InvalidGroup.NotFound", "DeleteSecurityGroup", "GroupId", web)
	bob.fails("InvalidGroup.NotFound", "AuthorizeSecurityGroupIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0")
	bob.fails("InvalidVpcID.NotFound", "CreateSecurityGroup", "VpcId", vpc, "GroupName", "x", "GroupDescription", "x")
	bob.fails("InvalidID", "CreateTags", "ResourceId.1", "nope-1", "Tag.1.Key", "k")
	bob.fails("InvalidGroup.NotFound", "CreateTags", "ResourceId.1", web, "Tag.1.Key", "k")
	if strings.Contains(bob.ok("DescribeSecurityGroups"), web) {
		t.Error("bob lists alice's group")
	}
	// Alice's group cannot be referenced from Bob's group either.
	bvpc, bweb := vpcWithGroup(t, bob, "web")
	_ = bvpc
	bob.fails("InvalidGroup.NotFound", "AuthorizeSecurityGroupIngress", "GroupId", bweb, "IpPermissions.1.IpProtocol", "-1",
		"IpPermissions.1.Groups.1.GroupId", web, "IpPermissions.1.Groups.1.UserId", alice.acct.ID)
	// Each account sees its own account ID as owner.
	if o := field(alice.ok("DescribeSecurityGroups", "GroupId.1", web), "ownerId"); o != alice.acct.ID {
		t.Errorf("owner %s, want %s", o, alice.acct.ID)
	}
	// Regions are separate too.
	west := &client{api: api, acct: alice.acct, region: "eu-west-1"}
	west.fails("InvalidGroup.NotFound", "DescribeSecurityGroups", "GroupId.1", web)
	if az := field(west.ok("DescribeSubnets"), "availabilityZone"); !strings.HasPrefix(az, "eu-west-1") {
		t.Errorf("default subnet zone in eu-west-1 = %q", az)
	}
}

func TestProtocolEnvelope(t *testing.T) {
	api := newTestAPI(t)
	c := api.newAccount("alice")
	body := c.ok("DescribeVpcs")
	if !strings.HasPrefix(body, `<?xml version="1.0" encoding="UTF-8"?>`) ||
		!strings.Contains(body, `<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>`) {
		t.Errorf("success envelope: %s", body)
	}
	// The default VPC exists with three default subnets.
	if field(body, "isDefault") != "true" || field(body, "cidrBlock") != "172.31.0.0/16" {
		t.Errorf("default VPC: %s", body)
	}
	if n := len(xmlFields(c.ok("DescribeSubnets", "Filter.1.Name", "default-for-az", "Filter.1.Value.1", "true"), "subnetId")); n != 3 {
		t.Errorf("%d default subnets, want 3", n)
	}
	r := c.fails("InvalidAction", "DescribeUnicorns")
	if !strings.Contains(r.Body, "<Response><Errors><Error><Code>InvalidAction</Code>") || !strings.Contains(r.Body, "<RequestID>") {
		t.Errorf("error envelope: %s", r.Body)
	}
	// Parameters of the EC2 model that Stockade does not act on are accepted.
	c.ok("RunInstances", "ImageId", image.DefaultID, "MinCount", "1", "MaxCount", "1", "Monitoring.Enabled", "false", "InstanceInitiatedShutdownBehavior", "stop")
	// Oversized bodies are refused without being buffered.
	big := url.Values{"Action": {"DescribeVpcs"}, "Version": {"2016-11-15"}, "Filter.1.Name": {"vpc-id"}, "Filter.1.Value.1": {strings.Repeat("x", 2<<20)}}
	if r := c.send(big.Encode()); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %s", r.Status, r.Code)
	}
}

func TestGETRequest(t *testing.T) {
	api := newTestAPI(t)
	c := api.newAccount("alice")
	q := url.Values{"Action": {"DescribeSecurityGroups"}, "Version": {"2016-11-15"}, "Filter.1.Name": {"group-name"}, "Filter.1.Value.1": {"default"}}
	req, _ := http.NewRequest(http.MethodGet, api.srv.URL+"/?"+q.Encode(), nil)
	creds := aws.Credentials{AccessKeyID: c.acct.AccessKeyID, SecretAccessKey: c.acct.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha(""), "ec2", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET status %d", resp.StatusCode)
	}
}
