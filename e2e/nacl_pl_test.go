package e2e

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestPrefixListQuotaWithSDK: a prefix list referenced from a group counts its MaxEntries; raising
// MaxEntries past the group's rule quota is refused and leaves the list as it was.
func TestPrefixListQuotaWithSDK(t *testing.T) {
	s := startServer(t, "", "--quota", "rules-per-group=10")
	c := ec2Client(s, s.akid, s.secret)
	cx := ctx(t)
	pl := must[*ec2.CreateManagedPrefixListOutput](t)(c.CreateManagedPrefixList(cx, &ec2.CreateManagedPrefixListInput{
		PrefixListName: aws.String("offices"), AddressFamily: aws.String("IPv4"), MaxEntries: aws.Int32(5),
		Entries: []types.AddPrefixListEntry{{Cidr: aws.String("203.0.113.0/24"), Description: aws.String("HQ")}}})).PrefixList
	g := must[*ec2.CreateSecurityGroupOutput](t)(c.CreateSecurityGroup(cx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("ssh"), Description: aws.String("ssh from offices")}))
	must[*ec2.AuthorizeSecurityGroupIngressOutput](t)(c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			PrefixListIds: []types.PrefixListId{{PrefixListId: pl.PrefixListId}}}}}))
	// 5 (the list) + 5 CIDR rules = 10 = the quota.
	var perms []types.IpPermission
	for p := int32(1); p <= 5; p++ {
		perms = append(perms, types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8000 + p), ToPort: aws.Int32(8000 + p), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}})
	}
	must[*ec2.AuthorizeSecurityGroupIngressOutput](t)(c.AuthorizeSecurityGroupIngress(cx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: perms}))
	_, err := c.ModifyManagedPrefixList(cx, &ec2.ModifyManagedPrefixListInput{PrefixListId: pl.PrefixListId, MaxEntries: aws.Int32(6)})
	wantCode(t, err, "RulesPerSecurityGroupLimitExceeded")
	desc := must[*ec2.DescribeManagedPrefixListsOutput](t)(c.DescribeManagedPrefixLists(cx, &ec2.DescribeManagedPrefixListsInput{PrefixListIds: []string{*pl.PrefixListId}}))
	if got := *desc.PrefixLists[0].MaxEntries; got != 5 {
		t.Errorf("MaxEntries after the refused resize: %d", got)
	}
	// Entries change versions; the SDK's CurrentVersion check works.
	mod := must[*ec2.ModifyManagedPrefixListOutput](t)(c.ModifyManagedPrefixList(cx, &ec2.ModifyManagedPrefixListInput{PrefixListId: pl.PrefixListId,
		CurrentVersion: aws.Int64(1), AddEntries: []types.AddPrefixListEntry{{Cidr: aws.String("198.51.100.0/24")}}}))
	if *mod.PrefixList.Version != 2 {
		t.Errorf("version after modify: %d", *mod.PrefixList.Version)
	}
	entries := must[*ec2.GetManagedPrefixListEntriesOutput](t)(c.GetManagedPrefixListEntries(cx, &ec2.GetManagedPrefixListEntriesInput{PrefixListId: pl.PrefixListId}))
	if len(entries.Entries) != 2 {
		t.Errorf("entries: %+v", entries.Entries)
	}
	_, err = c.DeleteManagedPrefixList(cx, &ec2.DeleteManagedPrefixListInput{PrefixListId: pl.PrefixListId})
	wantCode(t, err, "DependencyViolation")
}

// TestNACLsAndFlowLogsWithCLI drives network ACLs and flow logs with the AWS CLI.
func TestNACLsAndFlowLogsWithCLI(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	var vpc struct{ Vpc struct{ VpcId string } }
	a.ok(&vpc, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")
	var sn struct{ Subnet struct{ SubnetId string } }
	a.ok(&sn, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", "10.0.1.0/24")
	var acl struct{ NetworkAcl struct{ NetworkAclId string } }
	a.ok(&acl, "ec2", "create-network-acl", "--vpc-id", vpc.Vpc.VpcId)
	id := acl.NetworkAcl.NetworkAclId
	a.ok(nil, "ec2", "create-network-acl-entry", "--network-acl-id", id, "--ingress", "--rule-number", "100", "--protocol", "tcp",
		"--port-range", "From=443,To=443", "--cidr-block", "0.0.0.0/0", "--rule-action", "allow")
	a.ok(nil, "ec2", "create-network-acl-entry", "--network-acl-id", id, "--egress", "--rule-number", "100", "--protocol", "tcp",
		"--port-range", "From=1024,To=65535", "--cidr-block", "0.0.0.0/0", "--rule-action", "allow")
	a.fails("NetworkAclEntryAlreadyExists", "ec2", "create-network-acl-entry", "--network-acl-id", id, "--ingress", "--rule-number", "100",
		"--protocol", "-1", "--cidr-block", "10.0.0.0/8", "--rule-action", "deny")
	var acls struct {
		NetworkAcls []struct {
			NetworkAclId string
			IsDefault    bool
			Entries      []struct {
				RuleNumber int
				Protocol   string
				RuleAction string
				Egress     bool
				PortRange  *struct{ From, To int }
			}
			Associations []struct{ NetworkAclAssociationId, SubnetId string }
		}
	}
	a.ok(&acls, "ec2", "describe-network-acls", "--filters", "Name=association.subnet-id,Values="+sn.Subnet.SubnetId)
	if len(acls.NetworkAcls) != 1 || !acls.NetworkAcls[0].IsDefault {
		t.Fatalf("the subnet's NACL: %+v", acls)
	}
	var repl struct{ NewAssociationId string }
	a.ok(&repl, "ec2", "replace-network-acl-association", "--association-id", acls.NetworkAcls[0].Associations[0].NetworkAclAssociationId, "--network-acl-id", id)
	a.ok(&acls, "ec2", "describe-network-acls", "--network-acl-ids", id)
	e := acls.NetworkAcls[0].Entries
	if len(acls.NetworkAcls[0].Associations) != 1 || len(e) != 4 || e[0].Protocol != "6" || e[0].PortRange == nil || e[0].PortRange.From != 443 {
		t.Errorf("custom NACL: %+v", acls.NetworkAcls[0])
	}
	a.fails("DependencyViolation", "ec2", "delete-network-acl", "--network-acl-id", id)

	var fl struct {
		FlowLogIds   []string
		Unsuccessful []json.RawMessage
	}
	a.ok(&fl, "ec2", "create-flow-logs", "--resource-type", "Subnet", "--resource-ids", sn.Subnet.SubnetId, "--traffic-type", "ALL",
		"--log-destination-type", "s3", "--log-destination", "arn:aws:s3:::flow-bucket/prod", "--max-aggregation-interval", "60")
	if len(fl.FlowLogIds) != 1 || len(fl.Unsuccessful) != 0 {
		t.Fatalf("create-flow-logs: %+v", fl)
	}
	var logs struct {
		FlowLogs []struct{ FlowLogId, LogFormat, LogDestination string }
	}
	a.ok(&logs, "ec2", "describe-flow-logs", "--filter", "Name=resource-id,Values="+sn.Subnet.SubnetId)
	if len(logs.FlowLogs) != 1 || logs.FlowLogs[0].LogDestination != "arn:aws:s3:::flow-bucket/prod" {
		t.Errorf("describe-flow-logs: %+v", logs)
	}
	a.ok(nil, "ec2", "delete-flow-logs", "--flow-log-ids", fl.FlowLogIds[0])
}
