package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestMiscEmulatorDefaultAccount: with --emulator-default-account, an SDK using moto's
// "testing" keys works in account 123456789012, a 12-digit key in its own account; a value
// that is not 12 digits stops the server before it starts.
func TestMiscEmulatorDefaultAccount(t *testing.T) {
	cx := ctx(t)
	out, err := exec.Command(binary, "server", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--enforce=false",
		"--emulator-mode-accept-any-credentials", "--emulator-default-account", "12345").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--emulator-default-account") {
		t.Errorf("a 5-digit default account was accepted: %v %s", err, out)
	}
	s := startServer(t, "", "--emulator-mode-accept-any-credentials", "--emulator-default-account", "123456789012")
	for key, want := range map[string]string{"testing": "123456789012", "210987654321": "210987654321"} {
		g, err := ec2Client(s, key, "testing").DescribeSecurityGroups(cx, &ec2.DescribeSecurityGroupsInput{
			Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"default"}}}})
		if err != nil || len(g.SecurityGroups) == 0 || *g.SecurityGroups[0].OwnerId != want {
			t.Errorf("key %s: %+v %v, want owner %s", key, g, err, want)
		}
	}
}

// TestMiscPrefixListsKeysTagsWithAWSCLI drives this part of issue 13 with the real AWS CLI:
// AWS's prefix lists (describe, entries, the older describe-prefix-lists, refused changes, a
// rule using one), import-key-pair from a file with tags and describe-key-pairs with
// --include-public-key and a tag filter, and describe-tags with its filters and pages.
func TestMiscPrefixListsKeysTagsWithAWSCLI(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}

	var mpl struct {
		PrefixLists []struct{ PrefixListId, PrefixListName, OwnerId string }
	}
	a.ok(&mpl, "ec2", "describe-managed-prefix-lists", "--filters", "Name=prefix-list-name,Values=com.amazonaws.us-east-1.s3")
	if len(mpl.PrefixLists) != 1 || mpl.PrefixLists[0].PrefixListId != "pl-63a5400a" || mpl.PrefixLists[0].OwnerId != "AWS" {
		t.Fatalf("describe-managed-prefix-lists: %+v", mpl)
	}
	var entries struct{ Entries []struct{ Cidr string } }
	a.ok(&entries, "ec2", "get-managed-prefix-list-entries", "--prefix-list-id", "pl-63a5400a")
	if len(entries.Entries) == 0 {
		t.Error("S3's list has no entries")
	}
	var old struct {
		PrefixLists []struct {
			PrefixListId, PrefixListName string
			Cidrs                        []string
		}
	}
	a.ok(&old, "ec2", "describe-prefix-lists", "--filters", "Name=prefix-list-name,Values=*dynamodb")
	if len(old.PrefixLists) != 1 || old.PrefixLists[0].PrefixListId != "pl-02cd2c6b" || len(old.PrefixLists[0].Cidrs) == 0 {
		t.Errorf("describe-prefix-lists: %+v", old)
	}
	a.fails("UnauthorizedOperation", "ec2", "modify-managed-prefix-list", "--prefix-list-id", "pl-63a5400a", "--add-entries", "Cidr=10.0.0.0/8")
	a.fails("UnauthorizedOperation", "ec2", "delete-managed-prefix-list", "--prefix-list-id", "pl-63a5400a")
	var vpc struct{ Vpc struct{ VpcId string } }
	a.ok(&vpc, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")
	var g struct{ GroupId string }
	a.ok(&g, "ec2", "create-security-group", "--vpc-id", vpc.Vpc.VpcId, "--group-name", "app", "--description", "app")
	a.ok(nil, "ec2", "authorize-security-group-egress", "--group-id", g.GroupId, "--ip-permissions",
		`[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"PrefixListIds":[{"PrefixListId":"pl-63a5400a"}]}]`)

	// A key made by ssh-keygen, imported from its file as the CLI example does.
	dir := t.TempDir()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed (openssh-client): the import needs a key made by it")
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "my-key", "-f", filepath.Join(dir, "my-key")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	var imp struct{ KeyName, KeyFingerprint, KeyPairId string }
	a.ok(&imp, "ec2", "import-key-pair", "--key-name", "my-key", "--public-key-material", "fileb://"+filepath.Join(dir, "my-key.pub"),
		"--tag-specifications", "ResourceType=key-pair,Tags=[{Key=team,Value=blue}]")
	pub, _ := os.ReadFile(filepath.Join(dir, "my-key.pub"))
	var keys struct {
		KeyPairs []struct{ KeyName, KeyPairId, KeyFingerprint, PublicKey string }
	}
	a.ok(&keys, "ec2", "describe-key-pairs", "--include-public-key", "--filters", "Name=tag:team,Values=blue")
	if len(keys.KeyPairs) != 1 || keys.KeyPairs[0].KeyPairId != imp.KeyPairId || keys.KeyPairs[0].KeyFingerprint != imp.KeyFingerprint ||
		!strings.HasPrefix(string(pub), keys.KeyPairs[0].PublicKey) {
		t.Errorf("describe-key-pairs: %+v (imported %+v)", keys, imp)
	}
	a.fails("InvalidKeyPair.Duplicate", "ec2", "import-key-pair", "--key-name", "my-key", "--public-key-material", "fileb://"+filepath.Join(dir, "my-key.pub"))

	// Tags: seven on the VPC, read in pages of 5 by the CLI's paginator, and filtered.
	var tags []string
	for i := range 7 {
		tags = append(tags, "Key=k"+string(rune('a'+i))+",Value=v")
	}
	a.ok(nil, append([]string{"ec2", "create-tags", "--resources", vpc.Vpc.VpcId, g.GroupId, "--tags"}, tags...)...)
	var all struct {
		Tags []struct{ ResourceId, ResourceType, Key, Value string }
	}
	a.ok(&all, "ec2", "describe-tags", "--page-size", "5", "--filters", "Name=resource-id,Values="+vpc.Vpc.VpcId)
	if len(all.Tags) != 7 || all.Tags[0].ResourceType != "vpc" {
		t.Errorf("describe-tags in pages of 5: %d tags %+v", len(all.Tags), all.Tags)
	}
	var sg struct {
		Tags []struct{ ResourceId, Key string }
	}
	a.ok(&sg, "ec2", "describe-tags", "--filters", "Name=resource-type,Values=security-group", "Name=key,Values=k?", "Name=value,Values=v")
	if len(sg.Tags) != 7 {
		t.Errorf("describe-tags with wildcards: %+v", sg)
	}
	a.ok(&sg, "ec2", "describe-tags", "--filters", "Name=resource-type,Values=security-group", "Name=key,Values=ka,kb")
	if got := []string{}; len(sg.Tags) == 2 {
		for _, r := range sg.Tags {
			got = append(got, r.Key)
		}
		if !slices.Equal(got, []string{"ka", "kb"}) || sg.Tags[0].ResourceId != g.GroupId {
			t.Errorf("describe-tags by type and keys: %+v", sg)
		}
	} else {
		t.Errorf("describe-tags by type and keys: %+v", sg)
	}
	a.fails("InvalidParameterValue", "ec2", "create-tags", "--resources", vpc.Vpc.VpcId, "--tags", "Key=aws:x,Value=y")
	a.fails("InvalidParameterValue", "ec2", "delete-tags", "--resources", vpc.Vpc.VpcId, "--tags", "Key=AWS:x")
}
