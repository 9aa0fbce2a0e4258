package e2e

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// TestRegionsWithSDK: --regions is the closed set of regions, as the SDK sees it: another
// region is refused with AWS's message, DescribeRegions lists exactly the set.
func TestRegionsWithSDK(t *testing.T) {
	s := startServer(t, "", "--regions", "us-east-1,xx-lab-1")
	cx := ctx(t)
	inRegion := func(region string) *ec2.Client {
		return ec2.NewFromConfig(sdkConfig(s.akid, s.secret), func(o *ec2.Options) {
			o.BaseEndpoint = aws.String(s.endpoint)
			o.Region = region
		})
	}
	for _, region := range []string{"us-esat-1", "eu-west-1"} {
		_, err := inRegion(region).CreateVpc(cx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
		var ae smithy.APIError
		if code, status := apiError(t, err); code != "AuthFailure" || status != 401 || !errors.As(err, &ae) ||
			ae.ErrorMessage() != "Credential should be scoped to a valid region, not '"+region+"'." {
			t.Errorf("%s: %v", region, err)
		}
	}
	out := must[*ec2.DescribeRegionsOutput](t)(inRegion("xx-lab-1").DescribeRegions(cx, &ec2.DescribeRegionsInput{}))
	var names []string
	for _, r := range out.Regions {
		names = append(names, *r.RegionName)
	}
	if !slices.Equal(names, []string{"us-east-1", "xx-lab-1"}) {
		t.Errorf("DescribeRegions: %v", names)
	}
}

// TestBadRegionsFlag: a --regions list that names no region is a start-up error.
func TestBadRegionsFlag(t *testing.T) {
	out, err := exec.Command(binary, "server", "--listen", freePort(t), "--data-dir", t.TempDir(), "--enforce=false", "--regions", "us-east-1,Mars").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `--regions: "Mars" is not a region name`) {
		t.Fatalf("err %v, output %s", err, out)
	}
}

// TestSTSErrorsWithSDK: the SDK's STS client reads STS's codes from STS's error shape.
func TestSTSErrorsWithSDK(t *testing.T) {
	s := startServer(t, "")
	cx := ctx(t)
	client := func(akid, secret string) *sts.Client {
		return sts.NewFromConfig(sdkConfig(akid, secret), func(o *sts.Options) { o.BaseEndpoint = aws.String(s.endpoint) })
	}
	_, err := client("AKIAUNKNOWNKEY000000", s.secret).GetCallerIdentity(cx, &sts.GetCallerIdentityInput{})
	if code, status := apiError(t, err); code != "InvalidClientTokenId" || status != 403 {
		t.Errorf("unknown key: %s %d (%v)", code, status, err)
	}
	_, err = client(s.akid, "wrong-secret").GetCallerIdentity(cx, &sts.GetCallerIdentityInput{})
	if code, status := apiError(t, err); code != "SignatureDoesNotMatch" || status != 403 {
		t.Errorf("wrong secret: %s %d (%v)", code, status, err)
	}
}
