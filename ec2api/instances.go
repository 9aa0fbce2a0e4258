package ec2api

import (
	"cmp"
	"encoding/base64"
	"strings"
	"time"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

func runInstances(c *call) error {
	r := c.req
	specs, err := tagSpecs(r, "instance", "network-interface")
	if err != nil {
		return err
	}
	in := control.RunInput{
		ImageID: str(r, "ImageId"), InstanceType: str(r, "InstanceType"),
		SubnetID: str(r, "SubnetId"), KeyName: str(r, "KeyName"),
		Zone: str(r, "Placement.AvailabilityZone"), Tenancy: str(r, "Placement.Tenancy"),
		HostID: str(r, "Placement.HostId"), Affinity: str(r, "Placement.Affinity"),
		PrivateIP: str(r, "PrivateIpAddress"), ClientToken: str(r, "ClientToken"),
		InstanceTags: specs["instance"], ENITags: specs["network-interface"], DryRun: c.dryRun(),
	}
	// A launch template may name the image and the type; the service applies EC2's default
	// type when neither does.
	in.LaunchTemplate = runLaunchTemplate(r)
	if in.ImageID == "" && in.LaunchTemplate == nil {
		return model.Missing("ImageId")
	}
	if in.ImageID != "" && !model.ValidID("ami", in.ImageID) {
		return model.InvalidAMIIDMalformed.New(in.ImageID)
	}
	if len(in.ClientToken) > 64 {
		return model.InvalidValue("Value for parameter clientToken is invalid: at most 64 ASCII characters.")
	}
	if in.MinCount, in.MaxCount, err = runCounts(r); err != nil {
		return err
	}
	if in.GroupIDs, err = ids(r, "SecurityGroupId"); err != nil {
		return err
	}
	if in.GroupNames, err = ids(r, "SecurityGroup"); err != nil {
		return err
	}
	if in.DisableAPITermination, err = boolPtr(r, "DisableApiTermination"); err != nil {
		return err
	}
	if in.DisableAPIStop, err = boolPtr(r, "DisableApiStop"); err != nil {
		return err
	}
	in.ShutdownBehavior = str(r, "InstanceInitiatedShutdownBehavior")
	// No lab sandbox can hibernate (its memory is not saved anywhere): asked for, it is refused
	// at launch rather than at the first StopInstances with Hibernate.
	if on, _, err := optBool(r, "HibernationOptions.Configured"); err != nil {
		return err
	} else if on {
		return model.UnsupportedHibernationConfiguration.Errorf("Stockade instances cannot be enabled for hibernation.")
	}
	if ud := str(r, "UserData"); ud != "" {
		// The SDKs and the CLI base64-encode user data (spec §11.29).
		if in.UserData, err = base64.StdEncoding.DecodeString(ud); err != nil {
			return model.InvalidValue("Invalid BASE64 encoding of user data.")
		}
	}
	if in.MetadataOptions, err = readMetadataOptions(r, "MetadataOptions."); err != nil {
		return err
	}
	if in.EnablePrimaryIPv6, _, err = optBool(r, "EnablePrimaryIpv6"); err != nil {
		return err
	}
	if in.Interfaces, err = runInterfaces(r); err != nil {
		return err
	}
	if in.IPv6, in.IPv6Count, err = ipv6Request(r, "Ipv6Address"); err != nil {
		return err
	}
	resv, res, err := c.svc().RunInstances(c.ctx, c.tenant, in)
	if err != nil {
		return err
	}
	return c.writeReservation(c.written(res), resv)
}

// writeReservation writes RunInstances' reply: the reservation with its instances.
func (c *call) writeReservation(x *xmlWriter, resv *control.Reservation) error {
	names, err := c.groupNames()
	if err != nil {
		return err
	}
	x.str("reservationId", resv.ID)
	x.str("ownerId", resv.OwnerID)
	x.empty("groupSet")
	x.open("instancesSet")
	for _, inst := range resv.Instances {
		var enis []*model.NetworkInterface
		for _, id := range inst.InterfaceIDs {
			if n := resv.ENIs[id]; n != nil {
				enis = append(enis, n)
			}
		}
		x.open("item")
		c.writeInstance(inst, enis, names, nil)
		x.close("item")
	}
	x.close("instancesSet")
	return nil
}

// runCounts reads MinCount and MaxCount, both required.
func runCounts(r *query.Request) (min, max int, err error) {
	lo, hasMin, err := optInt(r, "MinCount")
	if err != nil {
		return 0, 0, err
	}
	hi, hasMax, err := optInt(r, "MaxCount")
	if err != nil {
		return 0, 0, err
	}
	if !hasMin {
		return 0, 0, model.Missing("MinCount")
	}
	if !hasMax {
		return 0, 0, model.Missing("MaxCount")
	}
	return int(lo), int(hi), nil
}

// runInterfaces reads RunInstances' NetworkInterface.N: the interfaces to create (or attach)
// for each instance, each with its device index.
func runInterfaces(r *query.Request) ([]control.RunInterface, error) {
	var out []control.RunInterface
	for _, n := range r.List("NetworkInterface") {
		ri := control.RunInterface{SubnetID: str(n, "SubnetId"), NetworkInterfaceID: str(n, "NetworkInterfaceId"), PrivateIP: str(n, "PrivateIpAddress")}
		var err error
		if ri.AssociatePublicIP, err = boolPtr(n, "AssociatePublicIpAddress"); err != nil {
			return nil, err
		}
		idx, ok, err := optInt(n, "DeviceIndex")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, model.Missing("NetworkInterface.N.DeviceIndex")
		}
		ri.DeviceIndex = int(idx)
		if ri.GroupIDs, err = ids(n, "SecurityGroupId"); err != nil {
			return nil, err
		}
		if ri.DeleteOnTermination, err = boolPtr(n, "DeleteOnTermination"); err != nil {
			return nil, err
		}
		if ri.ConnTrack, err = readConnTrack(n, "ConnectionTrackingSpecification"); err != nil {
			return nil, err
		}
		if ri.IPv6, ri.IPv6Count, err = ipv6Request(n, "Ipv6Addresses"); err != nil {
			return nil, err
		}
		out = append(out, ri)
	}
	return out, nil
}

// stateReason is EC2's StateReason of an instance: a stopped or terminated one was shut down
// by its user (Stockade has no other cause); a running one has none.
func stateReason(in *model.Instance) (r struct{ code, message string }) {
	if in.State == model.StateTerminated || in.State == model.StateStopped {
		r.code, r.message = "Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"
	}
	return r
}

// rootDeviceName is every instance's root device, as EC2 names an HVM instance's EBS root.
const rootDeviceName = "/dev/xvda"

// writeInstance renders an instance; eips are the Elastic IPs on its interfaces, by interface.
func (c *call) writeInstance(in *model.Instance, enis []*model.NetworkInterface, names map[string]string, eips map[string][]*model.Address) {
	x := &c.out
	x.str("instanceId", in.ID)
	x.str("imageId", in.ImageID)
	x.open("instanceState")
	x.int("code", int64(in.State.Code))
	x.str("name", in.State.Name)
	x.close("instanceState")
	var primary *model.NetworkInterface
	for _, n := range enis {
		if n.Attachment != nil && n.Attachment.DeviceIndex == 0 {
			primary = n
		}
	}
	switch {
	case primary != nil && primary.IPv6Only():
		// An instance in an IPv6-only subnet has a resource-based name only ("Amazon EC2
		// instance hostname types"). [UNCONFIRMED] that DescribeInstances shows it here.
		x.str("privateDnsName", model.ResourceDNSName(c.tenant.Region, in.ID))
	case primary != nil:
		x.str("privateDnsName", privateDNS(c.tenant.Region, primary.PrivateIP.String()))
	default:
		x.empty("privateDnsName")
	}
	x.empty("dnsName")
	x.opt("reason", in.TerminationMsg)
	x.opt("keyName", in.KeyName)
	x.int("amiLaunchIndex", int64(in.LaunchIndex))
	x.empty("productCodes")
	x.str("instanceType", in.InstanceType)
	x.time("launchTime", in.LaunchTime)
	x.open("placement")
	x.str("availabilityZone", in.AZ)
	x.empty("groupName")
	x.str("tenancy", in.Tenancy)
	if in.Tenancy == model.TenancyHost { // as on AWS: a host is shown only for host tenancy
		x.opt("hostId", in.HostID)
		x.opt("affinity", in.Affinity)
	}
	x.close("placement")
	x.open("monitoring")
	x.str("state", "disabled")
	x.close("monitoring")
	if in.State != model.StateTerminated {
		x.str("subnetId", in.SubnetID)
		x.str("vpcId", in.VpcID)
	}
	if primary != nil {
		if !primary.IPv6Only() { // left out, not empty, when there is none
			x.str("privateIpAddress", primary.PrivateIP.String())
		}
		if ip, _ := publicAddress(primary, eips[primary.ID], primary.PrivateIP); ip.IsValid() {
			x.str("ipAddress", ip.String())
		}
		if len(primary.IPv6) > 0 {
			x.str("ipv6Address", primary.IPv6[0].String())
		}
		x.bool("sourceDestCheck", primary.SourceDestCheck)
		writeGroupSet(x, primary.Groups, names)
	} else {
		x.empty("groupSet")
	}
	if sr := stateReason(in); sr.code != "" {
		x.open("stateReason")
		x.str("code", sr.code)
		x.str("message", sr.message)
		x.close("stateReason")
	}
	x.str("architecture", "x86_64")
	x.str("rootDeviceType", "ebs")
	x.str("rootDeviceName", rootDeviceName)
	x.empty("blockDeviceMapping")
	x.str("virtualizationType", "hvm")
	x.opt("clientToken", in.ClientToken)
	writeTags(x, in.Tags)
	x.str("hypervisor", "xen")
	x.open("networkInterfaceSet")
	for _, n := range enis {
		x.open("item")
		c.writeENI(n, names, false, eips[n.ID])
		x.close("item")
	}
	x.close("networkInterfaceSet")
	x.bool("ebsOptimized", false)
	x.bool("enaSupport", true)
	writeMetadataOptions(x, "metadataOptions", in.MetadataOptions)
}

// instanceRow is an instance with what its filters and rendering need.
type instanceRow struct {
	*model.Instance
	enis  []*model.NetworkInterface
	names map[string]string
	eips  map[string][]*model.Address // by interface
}

// publicIPs are the instance's public addresses, launch-time and Elastic.
func (r instanceRow) publicIPs() []string {
	var out []string
	for _, n := range r.enis {
		if n.PublicIP.IsValid() {
			out = append(out, n.PublicIP.String())
		}
		for _, a := range r.eips[n.ID] {
			out = append(out, a.PublicIP.String())
		}
	}
	return out
}

func (r instanceRow) groups() []string {
	var out []string
	for _, n := range r.enis {
		out = append(out, n.Groups...)
	}
	return out
}

func (r instanceRow) primaryGroups() []string {
	for _, n := range r.enis {
		if n.Attachment != nil && n.Attachment.DeviceIndex == 0 {
			return n.Groups
		}
	}
	return nil
}

func (r instanceRow) groupNamesOf(gs []string) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = r.names[g]
	}
	return out
}

var instanceFilters = filterer[instanceRow]{
	fields: fields[instanceRow]{
		"instance-id":         one2(func(r instanceRow) string { return r.ID }),
		"instance-state-name": one2(func(r instanceRow) string { return r.State.Name }),
		"instance-state-code": one2(func(r instanceRow) string { return itoa(r.State.Code) }),
		"reason":              one2(func(r instanceRow) string { return r.TerminationMsg }),
		"state-reason-code":   one2(func(r instanceRow) string { return stateReason(r.Instance).code }),
		"state-reason-message": one2(func(r instanceRow) string {
			return stateReason(r.Instance).message
		}),
		"instance.group-id":   func(r instanceRow) []string { return r.primaryGroups() },
		"instance.group-name": func(r instanceRow) []string { return r.groupNamesOf(r.primaryGroups()) },
		"group-id":            func(r instanceRow) []string { return r.primaryGroups() },
		"group-name":          func(r instanceRow) []string { return r.groupNamesOf(r.primaryGroups()) },
		"network-interface.group-id": func(r instanceRow) []string {
			return r.groups()
		},
		"network-interface.group-name": func(r instanceRow) []string { return r.groupNamesOf(r.groups()) },
		"network-interface.network-interface-id": func(r instanceRow) []string {
			return r.InterfaceIDs
		},
		"ip-address": func(r instanceRow) []string { return r.publicIPs() },
		"network-interface.association.public-ip": func(r instanceRow) []string { return r.publicIPs() },
		"subnet-id":         one2(func(r instanceRow) string { return r.SubnetID }),
		"vpc-id":            one2(func(r instanceRow) string { return r.VpcID }),
		"key-name":          one2(func(r instanceRow) string { return r.KeyName }),
		"tenancy":           one2(func(r instanceRow) string { return r.Tenancy }),
		"placement-tenancy": one2(func(r instanceRow) string { return r.Tenancy }),
		"host-id":           one2(func(r instanceRow) string { return r.HostID }),
		"affinity":          one2(func(r instanceRow) string { return r.Affinity }),
		"image-id":          one2(func(r instanceRow) string { return r.ImageID }),
		"instance-type":     one2(func(r instanceRow) string { return r.InstanceType }),
		"availability-zone": one2(func(r instanceRow) string { return r.AZ }),
		"reservation-id":    one2(func(r instanceRow) string { return r.ReservationID }),
		"owner-id":          one2(func(r instanceRow) string { return r.OwnerID }),
		"launch-index":      one2(func(r instanceRow) string { return itoa(r.LaunchIndex) }),
		"client-token":      one2(func(r instanceRow) string { return r.ClientToken }),
		"private-ip-address": func(r instanceRow) []string {
			var out []string
			for _, n := range r.enis {
				out = append(out, addrStrings(n)...)
			}
			return out
		},
		"network-interface.ipv6-addresses.ipv6-address": func(r instanceRow) []string {
			var out []string
			for _, n := range r.enis {
				out = append(out, ipv6Strings(n)...)
			}
			return out
		},
	},
	tagsOf: func(r instanceRow) model.Tags { return r.Tags },
}

var describeInstances = describeSpec[instanceRow]{
	IDs:          []string{"InstanceId"},
	NoMaxWithIDs: true,
	From: func(_ *call, v control.View) source[instanceRow] {
		names := groupNameMap(v)
		row := func(in *model.Instance) instanceRow {
			enis := v.InstanceENIs(in)
			eips := map[string][]*model.Address{}
			for _, n := range enis {
				if as := v.AddressesOn(n.ID); len(as) > 0 {
					eips[n.ID] = as
				}
			}
			return instanceRow{in, enis, names, eips}
		}
		return rowsOf(v.Instances, row, instanceByID(v))
	},
	Filters: instanceFilters,
	Key:     func(r instanceRow) string { return r.ID },
	Page:    writeReservations,
}

// instanceByID looks an instance up for a Describe: a malformed ID is refused before the
// lookup, as EC2 does.
func instanceByID(v control.View) func(id string) (*model.Instance, error) {
	return func(id string) (*model.Instance, error) {
		if !model.ValidID(model.PrefixInstance, id) {
			return nil, model.InvalidInstanceIDMalformed.New(id)
		}
		return v.Instance(id)
	}
}

// writeReservations writes a page of instances inside their reservations, in order of first
// appearance.
func writeReservations(c *call, page []instanceRow) {
	var order []string
	byResv := map[string][]instanceRow{}
	for _, r := range page {
		if _, ok := byResv[r.ReservationID]; !ok {
			order = append(order, r.ReservationID)
		}
		byResv[r.ReservationID] = append(byResv[r.ReservationID], r)
	}
	x := &c.out
	x.open("reservationSet")
	for _, id := range order {
		rs := byResv[id]
		x.open("item")
		x.str("reservationId", id)
		x.str("ownerId", rs[0].OwnerID)
		x.empty("groupSet")
		writeSet(c, "instancesSet", rs, func(c *call, r instanceRow) { c.writeInstance(r.Instance, r.enis, r.names, r.eips) })
		x.close("item")
	}
	x.close("reservationSet")
}

func terminateInstances(c *call) error {
	want, err := ids(c.req, "InstanceId")
	if err != nil {
		return err
	}
	if len(want) == 0 {
		return model.Missing("InstanceId")
	}
	for _, id := range want {
		if !model.ValidID(model.PrefixInstance, id) {
			return model.InvalidInstanceIDMalformed.New(id)
		}
	}
	changes, res, err := c.svc().TerminateInstances(c.ctx, c.tenant, control.TerminateInstancesInput{IDs: want, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	writeStateChanges(c.written(res), changes)
	return nil
}

func modifyInstanceAttribute(c *call) error {
	r := c.req
	in := control.ModifyInstanceInput{ID: str(r, "InstanceId"), DryRun: c.dryRun()}
	if in.ID == "" {
		return model.Missing("InstanceId")
	}
	var err error
	if in.Groups, err = ids(r, "GroupId"); err != nil {
		return err
	}
	if in.SourceDestCheck, err = boolPtr(r, "SourceDestCheck.Value"); err != nil {
		return err
	}
	if in.DisableAPITermination, err = boolPtr(r, "DisableApiTermination.Value"); err != nil {
		return err
	}
	if in.DisableAPIStop, err = boolPtr(r, "DisableApiStop.Value"); err != nil {
		return err
	}
	if v, ok := r.String("InstanceInitiatedShutdownBehavior.Value"); ok {
		in.ShutdownBehavior = &v
	}
	// What EC2 lets one change about kernels, RAM disks, EBS and network drivers has no
	// meaning for a lab sandbox: refused by name rather than ignored.
	for _, p := range []string{"Kernel.Value", "Ramdisk.Value", "EbsOptimized.Value", "EnaSupport.Value", "SriovNetSupport.Value"} {
		if _, ok := r.String(p); ok {
			return model.InvalidValue("Stockade does not support modifying the %s attribute", strings.TrimSuffix(p, ".Value"))
		}
	}
	if len(r.List("BlockDeviceMapping")) > 0 {
		return model.InvalidValue("Stockade does not support modifying the blockDeviceMapping attribute")
	}
	if v, ok := r.String("InstanceType.Value"); ok {
		in.InstanceType = &v
	}
	if v, ok := r.String("UserData.Value"); ok {
		if in.UserData, err = base64.StdEncoding.DecodeString(v); err != nil {
			return model.InvalidValue("Invalid BASE64 encoding of user data.")
		}
		if in.UserData == nil {
			in.UserData = []byte{}
		}
	}
	// The older Attribute/Value form names one attribute by its API name.
	if attr := str(r, "Attribute"); attr != "" {
		val := str(r, "Value")
		switch attr {
		case "instanceType":
			in.InstanceType = &val
		case "instanceInitiatedShutdownBehavior":
			in.ShutdownBehavior = &val
		case "userData":
			if in.UserData, err = base64.StdEncoding.DecodeString(val); err != nil {
				return model.InvalidValue("Invalid BASE64 encoding of user data.")
			}
			if in.UserData == nil {
				in.UserData = []byte{}
			}
		case "sourceDestCheck", "disableApiTermination", "disableApiStop":
			b := strings.EqualFold(val, "true")
			switch attr {
			case "sourceDestCheck":
				in.SourceDestCheck = &b
			case "disableApiStop":
				in.DisableAPIStop = &b
			default:
				in.DisableAPITermination = &b
			}
		default:
			return model.InvalidValue("Value (%s) for parameter attribute is invalid. Stockade supports instanceType, sourceDestCheck, disableApiTermination, disableApiStop, instanceInitiatedShutdownBehavior, groupSet (GroupId.N) and userData.", attr)
		}
	}
	return c.returned(c.svc().ModifyInstance(c.ctx, c.tenant, in))
}

// describeInstanceAttribute reports one attribute of an instance.
func describeInstanceAttribute(c *call) error {
	id, attr := str(c.req, "InstanceId"), str(c.req, "Attribute")
	if id == "" {
		return model.Missing("InstanceId")
	}
	if attr == "" {
		return model.Missing("Attribute")
	}
	names, err := c.groupNames()
	if err != nil {
		return err
	}
	return c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		in, err := v.Instance(id)
		if err != nil {
			return err
		}
		x := &c.out
		x.str("instanceId", in.ID)
		enis := v.InstanceENIs(in)
		var primary *model.NetworkInterface
		for _, n := range enis {
			if n.Attachment != nil && n.Attachment.DeviceIndex == 0 {
				primary = n
			}
		}
		value := func(name, v string) {
			x.open(name)
			x.str("value", v)
			x.close(name)
		}
		switch attr {
		case "instanceType":
			value("instanceType", in.InstanceType)
		case "userData":
			x.open("userData")
			if len(in.UserData) > 0 {
				x.str("value", base64.StdEncoding.EncodeToString(in.UserData))
			}
			x.close("userData")
		case "disableApiTermination":
			value("disableApiTermination", boolStr(in.NoTermination))
		case "disableApiStop":
			value("disableApiStop", boolStr(in.NoStop))
		case "instanceInitiatedShutdownBehavior":
			value("instanceInitiatedShutdownBehavior", cmp.Or(in.ShutdownBehavior, "stop"))
		case "rootDeviceName":
			value("rootDeviceName", rootDeviceName)
		case "ebsOptimized":
			value("ebsOptimized", "false")
		case "enaSupport":
			value("enaSupport", "true")
		case "kernel", "ramdisk", "sriovNetSupport":
			x.empty(attr) // an HVM instance has none, and EC2 answers the element empty
		case "blockDeviceMapping", "productCodes":
			x.empty(attr)
		case "enclaveOptions":
			x.open("enclaveOptions")
			x.bool("enabled", false)
			x.close("enclaveOptions")
		case "sourceDestCheck":
			value("sourceDestCheck", boolStr(primary == nil || primary.SourceDestCheck))
		case "groupSet":
			var gs []string
			if primary != nil {
				gs = primary.Groups
			}
			writeGroupSet(x, gs, names)
		default:
			// [UNCONFIRMED] wording; the code is EC2's for an attribute outside its enum.
			return model.InvalidValue("Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
		}
		return nil
	})
}

// getConsoleOutput returns what a lab instance printed: its user data's output, base64 as EC2
// sends it: at most the most recent 64 KiB, as EC2 returns. Latest is accepted and changes
// nothing (the tail is returned either way).
func getConsoleOutput(c *call) error {
	id := str(c.req, "InstanceId")
	if id == "" {
		return model.Missing("InstanceId")
	}
	if v := str(c.req, "Latest"); v != "" && v != "true" && v != "false" {
		return model.InvalidValue("Invalid value '%s' for Latest", v)
	}
	err := c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		_, err := v.Instance(id)
		return err
	})
	if err != nil {
		return err
	}
	var out []byte
	if c.s.cfg.Console != nil {
		if out, err = c.s.cfg.Console(id); err != nil {
			return err
		}
	}
	c.out.str("instanceId", id)
	c.out.str("timestamp", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	if len(out) > 0 {
		c.out.str("output", base64.StdEncoding.EncodeToString(out))
	}
	return nil
}
