package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"golang.org/x/crypto/ssh"

	"github.com/stockade/stockade/image"
)

func sdkConfig(akid, secret string) aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
		Retryer:     connectionRetryer,
	}
}

// connectionRetryer retries only what the SDK calls connection errors, never an API error, so
// every error code a test sees is the server's first answer. Connection errors must be retried
// as the SDK does by default: Go's HTTP client occasionally closes a connection under a
// response it is still reading ("use of closed network connection", aws-sdk-go-v2#2737), most
// often on a loaded machine. A retried write whose first attempt did land shows up as a
// duplicate error, so a retry never hides a lost write.
func connectionRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.MaxBackoff = 100 * time.Millisecond
		o.Retryables = []retry.IsErrorRetryable{retry.NoRetryCanceledError{}, retry.RetryableConnectionError{}}
		o.RateLimiter = ratelimit.None
	})
}

func ec2Client(s *server, akid, secret string) *ec2.Client {
	return ec2.NewFromConfig(sdkConfig(akid, secret), func(o *ec2.Options) { o.BaseEndpoint = aws.String(s.endpoint) })
}

// apiError returns the EC2 error code and HTTP status of an SDK error.
func apiError(t *testing.T, err error) (string, int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("succeeded, want %s", code)
	}
	if got, _ := apiError(t, err); got != code {
		t.Fatalf("error %v, want %s", err, code)
	}
}

func must[T any](t testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestThreeTierWithSDK builds the README's three-tier example with the AWS SDK for Go.
func TestThreeTierWithSDK(t *testing.T) {
	s := startServer(t, "")
	c := ec2Client(s, s.akid, s.secret)
	cx := ctx(t)

	vpc := must[*ec2.CreateVpcOutput](t)(c.CreateVpc(cx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})).Vpc
	subnet := must[*ec2.CreateSubnetOutput](t)(c.CreateSubnet(cx, &ec2.CreateSubnetInput{VpcId: vpc.VpcId, CidrBlock: aws.String("10.0.1.0/24")})).Subnet
	group := func(name string) string {
		out := must[*ec2.CreateSecurityGroupOutput](t)(c.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{
			VpcId: vpc.VpcId, GroupName: aws.String(name), Description: aws.String(name + " tier"),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: []types.Tag{{Key: aws.String("tier"), Value: aws.String(name)}}}},
		}))
		return *out.GroupId
	}
	web, app, db := group("web"), group("app"), group("db")
	cidr := func(port int32, c string) types.IpPermission {
		return types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port), IpRanges: []types.IpRange{{CidrIp: aws.String(c)}}}
	}
	from := func(port int32, g string) types.IpPermission {
		return types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(g)}}}
	}
	out := must[*ec2.AuthorizeSecurityGroupIngressOutput](t)(c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(web), IpPermissions: []types.IpPermission{cidr(80, "0.0.0.0/0"), cidr(443, "0.0.0.0/0"), cidr(22, "203.0.113.0/24")}}))
	if len(out.SecurityGroupRules) != 3 || !*out.Return {
		t.Fatalf("authorize web: %+v", out)
	}
	must[*ec2.AuthorizeSecurityGroupIngressOutput](t)(c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(app), IpPermissions: []types.IpPermission{from(8080, web)}}))
	must[*ec2.AuthorizeSecurityGroupIngressOutput](t)(c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(db), IpPermissions: []types.IpPermission{from(3306, app)}}))

	groups := must[*ec2.DescribeSecurityGroupsOutput](t)(c.DescribeSecurityGroups(cx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{db, web}})).SecurityGroups
	byName := map[string]types.SecurityGroup{}
	for _, g := range groups {
		byName[*g.GroupName] = g
	}
	dbIn := byName["db"].IpPermissions
	if len(dbIn) != 1 || *dbIn[0].FromPort != 3306 || len(dbIn[0].UserIdGroupPairs) != 1 || *dbIn[0].UserIdGroupPairs[0].GroupId != app || len(dbIn[0].IpRanges) != 0 {
		t.Errorf("db ingress: %+v", dbIn)
	}
	if n := len(byName["web"].IpPermissions); n != 3 {
		t.Errorf("web has %d IpPermissions, want 3", n)
	}
	if eg := byName["web"].IpPermissionsEgress; len(eg) != 1 || *eg[0].IpProtocol != "-1" || eg[0].FromPort != nil {
		t.Errorf("web egress: %+v", eg)
	}
	rules := must[*ec2.DescribeSecurityGroupRulesOutput](t)(c.DescribeSecurityGroupRules(cx, &ec2.DescribeSecurityGroupRulesInput{
		Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{app}}}})).SecurityGroupRules
	if len(rules) != 2 {
		t.Fatalf("app rules: %+v", rules)
	}
	for _, r := range rules {
		if !*r.IsEgress && (r.ReferencedGroupInfo == nil || *r.ReferencedGroupInfo.GroupId != web) {
			t.Errorf("app ingress rule: %+v", r)
		}
	}

	// An instance in the web tier gets the subnet's first usable address.
	run := must[*ec2.RunInstancesOutput](t)(c.RunInstances(cx, &ec2.RunInstancesInput{ImageId: aws.String(image.DefaultID),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: subnet.SubnetId, SecurityGroupIds: []string{web}}))
	inst := run.Instances[0]
	// The default image is listed as EC2 lists Amazon's, and an unknown one is refused.
	ims := must[*ec2.DescribeImagesOutput](t)(c.DescribeImages(cx, &ec2.DescribeImagesInput{Owners: []string{"amazon"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"stockade-*"}}}}))
	if len(ims.Images) != 1 || *ims.Images[0].ImageId != image.DefaultID || ims.Images[0].State != types.ImageStateAvailable {
		t.Errorf("DescribeImages: %+v", ims.Images)
	}
	_, err := c.RunInstances(cx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: subnet.SubnetId})
	wantCode(t, err, "InvalidAMIID.NotFound")
	if *inst.PrivateIpAddress != "10.0.1.4" || *inst.SecurityGroups[0].GroupId != web || inst.State.Name != types.InstanceStateNamePending {
		t.Errorf("instance: ip %s groups %+v state %s", *inst.PrivateIpAddress, inst.SecurityGroups, inst.State.Name)
	}
	desc := must[*ec2.DescribeInstancesOutput](t)(c.DescribeInstances(cx, &ec2.DescribeInstancesInput{InstanceIds: []string{*inst.InstanceId}}))
	if st := desc.Reservations[0].Instances[0].State.Name; st != types.InstanceStateNameRunning {
		t.Errorf("described state %s", st)
	}

	// EC2's dependency rules.
	_, err = c.DeleteSecurityGroup(cx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(app)})
	wantCode(t, err, "DependencyViolation")
	_, err = c.DeleteSecurityGroup(cx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(web)})
	wantCode(t, err, "DependencyViolation")
	_, err = c.DeleteSecurityGroup(cx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(db)})
	if err != nil {
		t.Fatal(err)
	}
	must[*ec2.TerminateInstancesOutput](t)(c.TerminateInstances(cx, &ec2.TerminateInstancesInput{InstanceIds: []string{*inst.InstanceId}}))
	if _, err := c.DeleteSecurityGroup(cx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(app)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSecurityGroup(cx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(web)}); err != nil {
		t.Fatal(err)
	}
	// DryRun is an error with HTTP 412.
	_, err = c.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{VpcId: vpc.VpcId, GroupName: aws.String("x"), Description: aws.String("x"), DryRun: aws.Bool(true)})
	if code, status := apiError(t, err); code != "DryRunOperation" || status != 412 {
		t.Errorf("dry run: %s %d", code, status)
	}
	// STS tells who we are.
	id := must[*sts.GetCallerIdentityOutput](t)(sts.NewFromConfig(sdkConfig(s.akid, s.secret), func(o *sts.Options) { o.BaseEndpoint = aws.String(s.endpoint) }).GetCallerIdentity(cx, &sts.GetCallerIdentityInput{}))
	if len(*id.Account) != 12 {
		t.Errorf("caller identity %+v", id)
	}
}

func TestQuotaPaginationFiltersTagsWithSDK(t *testing.T) {
	s := startServer(t, "", "--quota", "rules-per-group=5")
	c := ec2Client(s, s.akid, s.secret)
	cx := ctx(t)
	vpc := must[*ec2.CreateVpcOutput](t)(c.CreateVpc(cx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})).Vpc
	var ids []string
	for i := 0; i < 23; i++ {
		out := must[*ec2.CreateSecurityGroupOutput](t)(c.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{
			VpcId: vpc.VpcId, GroupName: aws.String(fmt.Sprintf("svc-%02d", i)), Description: aws.String("service")}))
		ids = append(ids, *out.GroupId)
	}
	// Quota: five IPv4 ingress rules fit, the sixth does not.
	var perms []types.IpPermission
	for p := int32(1); p <= 6; p++ {
		perms = append(perms, types.IpPermission{IpProtocol: aws.String("udp"), FromPort: aws.Int32(p), ToPort: aws.Int32(p), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}})
	}
	_, err := c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(ids[0]), IpPermissions: perms})
	wantCode(t, err, "RulesPerSecurityGroupLimitExceeded")
	must[*ec2.AuthorizeSecurityGroupIngressOutput](t)(c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(ids[0]), IpPermissions: perms[:5]}))
	_, err = c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(ids[0]), IpPermissions: perms[:1]})
	wantCode(t, err, "InvalidPermission.Duplicate")

	// The SDK's paginator walks all 24 groups of the VPC (23 + default) exactly once.
	p := ec2.NewDescribeSecurityGroupsPaginator(c, &ec2.DescribeSecurityGroupsInput{MaxResults: aws.Int32(5),
		Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{*vpc.VpcId}}}})
	var seen []string
	pages := 0
	for p.HasMorePages() {
		page := must[*ec2.DescribeSecurityGroupsOutput](t)(p.NextPage(cx))
		pages++
		for _, g := range page.SecurityGroups {
			seen = append(seen, *g.GroupId)
		}
	}
	slices.Sort(seen)
	if len(seen) != 24 || len(slices.Compact(slices.Clone(seen))) != 24 || pages != 5 {
		t.Errorf("paginator: %d groups in %d pages", len(seen), pages)
	}
	// Filters and tags.
	must[*ec2.CreateTagsOutput](t)(c.CreateTags(cx, &ec2.CreateTagsInput{Resources: ids[:3], Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("payments")}}}))
	tagged := must[*ec2.DescribeSecurityGroupsOutput](t)(c.DescribeSecurityGroups(cx, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"pay*"}}, {Name: aws.String("group-name"), Values: []string{"svc-0?"}}}})).SecurityGroups
	if len(tagged) != 3 {
		t.Errorf("tag + wildcard filter matched %d groups, want 3", len(tagged))
	}
	tags := must[*ec2.DescribeTagsOutput](t)(c.DescribeTags(cx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("key"), Values: []string{"Name"}}}})).Tags
	if len(tags) != 3 || tags[0].ResourceType != types.ResourceTypeSecurityGroup {
		t.Errorf("DescribeTags: %+v", tags)
	}
	_, err = c.DescribeSecurityGroups(cx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{ids[0], "sg-0123456789abcdef0"}})
	wantCode(t, err, "InvalidGroup.NotFound")
}

func TestKeyPairsWithSDK(t *testing.T) {
	s := startServer(t, "")
	c := ec2Client(s, s.akid, s.secret)
	cx := ctx(t)
	rsaKey := must[*ec2.CreateKeyPairOutput](t)(c.CreateKeyPair(cx, &ec2.CreateKeyPairInput{KeyName: aws.String("deploy")}))
	if _, err := ssh.ParseRawPrivateKey([]byte(*rsaKey.KeyMaterial)); err != nil {
		t.Fatalf("RSA key material does not parse: %v", err)
	}
	if len(*rsaKey.KeyFingerprint) != 59 { // 20 bytes as colon hex
		t.Errorf("RSA fingerprint %q", *rsaKey.KeyFingerprint)
	}
	ed := must[*ec2.CreateKeyPairOutput](t)(c.CreateKeyPair(cx, &ec2.CreateKeyPairInput{KeyName: aws.String("ed"), KeyType: types.KeyTypeEd25519}))
	if _, err := ssh.ParseRawPrivateKey([]byte(*ed.KeyMaterial)); err != nil {
		t.Fatalf("ED25519 key material does not parse: %v", err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	imp := must[*ec2.ImportKeyPairOutput](t)(c.ImportKeyPair(cx, &ec2.ImportKeyPairInput{KeyName: aws.String("mine"), PublicKeyMaterial: ssh.MarshalAuthorizedKey(sshPub)}))
	keys := must[*ec2.DescribeKeyPairsOutput](t)(c.DescribeKeyPairs(cx, &ec2.DescribeKeyPairsInput{IncludePublicKey: aws.Bool(true)})).KeyPairs
	if len(keys) != 3 {
		t.Fatalf("%d key pairs", len(keys))
	}
	for _, k := range keys {
		if *k.KeyName == "mine" && (*k.KeyFingerprint != *imp.KeyFingerprint || k.KeyType != types.KeyTypeEd25519 || k.PublicKey == nil) {
			t.Errorf("imported key described as %+v", k)
		}
	}
	_, err := c.CreateKeyPair(cx, &ec2.CreateKeyPairInput{KeyName: aws.String("deploy")})
	wantCode(t, err, "InvalidKeyPair.Duplicate")
	must[*ec2.DeleteKeyPairOutput](t)(c.DeleteKeyPair(cx, &ec2.DeleteKeyPairInput{KeyName: aws.String("deploy")}))
	_, err = c.DescribeKeyPairs(cx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"deploy"}})
	wantCode(t, err, "InvalidKeyPair.NotFound")
}

func TestBadSignaturesWithSDK(t *testing.T) {
	s := startServer(t, "")
	cx := ctx(t)
	_, err := ec2Client(s, s.akid, "wrong-secret").DescribeVpcs(cx, &ec2.DescribeVpcsInput{})
	if code, status := apiError(t, err); code != "AuthFailure" || status != 401 {
		t.Errorf("wrong secret: %s %d", code, status)
	}
	_, err = ec2Client(s, "AKIAUNKNOWNKEY000000", s.secret).DescribeVpcs(cx, &ec2.DescribeVpcsInput{})
	if code, status := apiError(t, err); code != "AuthFailure" || status != 401 {
		t.Errorf("unknown key: %s %d", code, status)
	}
}
