package e2e

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/stockade/stockade/image"
)

// TestENIActionsWithAWSCLI runs the interface actions as the AWS CLI examples do
// (awscli/examples/ec2/attach-network-interface.rst, detach-network-interface.rst,
// assign-private-ip-addresses.rst, assign-ipv6-addresses.rst, unassign-ipv6-addresses.rst) and
// checks the JSON the CLI prints has the examples' fields and values (IDs aside), with the
// attachment's DeleteOnTermination, filters, DryRun and EC2's errors.
func TestENIActionsWithAWSCLI(t *testing.T) {
	cliTest(t)
	s := startServer(t, "")
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	var vpc struct {
		Vpc struct {
			VpcId                       string
			Ipv6CidrBlockAssociationSet []struct{ Ipv6CidrBlock string }
		}
	}
	a.ok(&vpc, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16", "--amazon-provided-ipv6-cidr-block")
	block := vpc.Vpc.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock
	var sn struct{ Subnet struct{ SubnetId string } }
	a.ok(&sn, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", "10.0.1.0/24", "--ipv6-cidr-block", block[:len(block)-len("::/56")]+"::/64")
	var run struct{ Instances []struct{ InstanceId string } }
	a.ok(&run, "ec2", "run-instances", "--image-id", image.DefaultID, "--instance-type", "m5.large", "--subnet-id", sn.Subnet.SubnetId)
	inst := run.Instances[0].InstanceId
	var eni struct {
		NetworkInterface struct{ NetworkInterfaceId, PrivateIpAddress string }
	}
	a.ok(&eni, "ec2", "create-network-interface", "--subnet-id", sn.Subnet.SubnetId, "--description", "my network interface")
	id := eni.NetworkInterface.NetworkInterfaceId

	a.fails("DryRunOperation", "ec2", "attach-network-interface", "--network-interface-id", id, "--instance-id", inst, "--device-index", "1", "--dry-run")
	var att struct {
		AttachmentId     string
		NetworkCardIndex *int
	}
	a.ok(&att, "ec2", "attach-network-interface", "--network-interface-id", id, "--instance-id", inst, "--device-index", "1")
	if len(att.AttachmentId) != len("eni-attach-")+17 || att.AttachmentId[:11] != "eni-attach-" || att.NetworkCardIndex == nil || *att.NetworkCardIndex != 0 {
		t.Fatalf("attach-network-interface printed %+v", att)
	}
	a.ok(nil, "ec2", "modify-network-interface-attribute", "--network-interface-id", id, "--attachment", "AttachmentId="+att.AttachmentId+",DeleteOnTermination=true")
	type described struct {
		NetworkInterfaces []struct {
			NetworkInterfaceId, Status string
			RequesterManaged           bool
			Attachment                 *struct {
				AttachmentId, InstanceId, InstanceOwnerId, Status string
				DeviceIndex                                       int
				DeleteOnTermination                               bool
			}
			PrivateIpAddresses []struct {
				PrivateIpAddress string
				Primary          bool
			}
			Ipv6Addresses []struct{ Ipv6Address string }
		}
	}
	var d described
	a.ok(&d, "ec2", "describe-network-interfaces", "--filters", "Name=attachment.instance-id,Values="+inst, "Name=attachment.device-index,Values=1")
	if len(d.NetworkInterfaces) != 1 || d.NetworkInterfaces[0].NetworkInterfaceId != id || d.NetworkInterfaces[0].Status != "in-use" ||
		d.NetworkInterfaces[0].RequesterManaged || d.NetworkInterfaces[0].Attachment == nil {
		t.Fatalf("describe-network-interfaces: %+v", d)
	}
	if at := d.NetworkInterfaces[0].Attachment; at.AttachmentId != att.AttachmentId || at.InstanceId != inst || at.Status != "attached" ||
		at.DeviceIndex != 1 || !at.DeleteOnTermination || len(at.InstanceOwnerId) != 12 {
		t.Fatalf("attachment %+v", at)
	}

	var assigned struct {
		NetworkInterfaceId         string
		AssignedPrivateIpAddresses []struct{ PrivateIpAddress string }
	}
	a.ok(&assigned, "ec2", "assign-private-ip-addresses", "--network-interface-id", id, "--private-ip-addresses", "10.0.1.82")
	if assigned.NetworkInterfaceId != id || len(assigned.AssignedPrivateIpAddresses) != 1 || assigned.AssignedPrivateIpAddresses[0].PrivateIpAddress != "10.0.1.82" {
		t.Fatalf("assign-private-ip-addresses: %+v", assigned)
	}
	a.ok(&assigned, "ec2", "assign-private-ip-addresses", "--network-interface-id", id, "--secondary-private-ip-address-count", "2")
	if len(assigned.AssignedPrivateIpAddresses) != 2 {
		t.Fatalf("assign-private-ip-addresses by count: %+v", assigned)
	}
	a.fails("InvalidIPAddress.InUse", "ec2", "assign-private-ip-addresses", "--network-interface-id", id, "--private-ip-addresses", eni.NetworkInterface.PrivateIpAddress)
	a.ok(nil, "ec2", "unassign-private-ip-addresses", "--network-interface-id", id, "--private-ip-addresses", "10.0.1.82")

	var six struct {
		AssignedIpv6Addresses []string
		NetworkInterfaceId    string
	}
	a.ok(&six, "ec2", "assign-ipv6-addresses", "--network-interface-id", id, "--ipv6-address-count", "2")
	if six.NetworkInterfaceId != id || len(six.AssignedIpv6Addresses) != 2 {
		t.Fatalf("assign-ipv6-addresses: %+v", six)
	}
	var unsix struct {
		NetworkInterfaceId      string
		UnassignedIpv6Addresses []string
	}
	a.ok(&unsix, "ec2", "unassign-ipv6-addresses", "--ipv6-addresses", six.AssignedIpv6Addresses[0], "--network-interface-id", id)
	if unsix.NetworkInterfaceId != id || !slices.Equal(unsix.UnassignedIpv6Addresses, six.AssignedIpv6Addresses[:1]) {
		t.Fatalf("unassign-ipv6-addresses: %+v", unsix)
	}
	a.ok(&d, "ec2", "describe-network-interfaces", "--network-interface-ids", id)
	var addrs []string
	for _, p := range d.NetworkInterfaces[0].PrivateIpAddresses {
		addrs = append(addrs, p.PrivateIpAddress)
	}
	if len(addrs) != 3 || slices.Contains(addrs, "10.0.1.82") || len(d.NetworkInterfaces[0].Ipv6Addresses) != 1 {
		t.Fatalf("addresses after unassign: %v, %+v", addrs, d.NetworkInterfaces[0].Ipv6Addresses)
	}

	var primary described
	a.ok(&primary, "ec2", "describe-network-interfaces", "--filters", "Name=attachment.instance-id,Values="+inst, "Name=attachment.device-index,Values=0")
	a.fails("OperationNotPermitted", "ec2", "detach-network-interface", "--attachment-id", primary.NetworkInterfaces[0].Attachment.AttachmentId)
	a.ok(nil, "ec2", "detach-network-interface", "--attachment-id", att.AttachmentId)
	a.fails("InvalidAttachmentID.NotFound", "ec2", "detach-network-interface", "--attachment-id", att.AttachmentId)
	var after described
	a.ok(&after, "ec2", "describe-network-interfaces", "--network-interface-ids", id)
	if after.NetworkInterfaces[0].Status != "available" || after.NetworkInterfaces[0].Attachment != nil {
		t.Fatalf("after detach: %+v", after.NetworkInterfaces[0])
	}
}
