package flowlog

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/stockade/stockade/model"
)

// Format is a parsed LogFormat: its fields in order and the version its records report.
type Format struct {
	Fields  []string
	Version int
}

// ParseFormat parses a LogFormat as CreateFlowLogs validates it (model.ParseFlowLogFormat);
// "" is the default version-2 format.
func ParseFormat(s string) (Format, error) {
	if s == "" {
		s = model.DefaultFlowLogFormat
	}
	fields, err := model.ParseFlowLogFormat(s)
	if err != nil {
		return Format{}, err
	}
	return Format{Fields: fields, Version: model.FlowLogVersion(fields)}, nil
}

// Header is the first line of an S3 object: the field names in format order, without ${}.
func (f Format) Header() string { return strings.Join(f.Fields, " ") }

// Append renders r as one line (no newline) after b. A value that does not apply is "-"
// (A1): traffic fields of NODATA and SKIPDATA records, fields Stockade has no source for
// (sublocations, AWS service ranges, ECS, reject-reason).
func (f Format) Append(b []byte, r *Record) []byte {
	for i, name := range f.Fields {
		if i > 0 {
			b = append(b, ' ')
		}
		b = f.appendField(b, name, r)
	}
	return b
}

// Line is Append as a string.
func (f Format) Line(r *Record) string { return string(f.Append(nil, r)) }

func dash(b []byte) []byte { return append(b, '-') }

func str(b []byte, s string) []byte {
	if s == "" {
		return dash(b)
	}
	return append(b, s...)
}

func (f Format) appendField(b []byte, name string, r *Record) []byte {
	ifc := r.Iface
	// Fields that describe the interface or the window are filled in every record; NODATA
	// and SKIPDATA records fill them too (A2.4: AWS leaves this [UNCONFIRMED]).
	switch name {
	case "version":
		return strconv.AppendInt(b, int64(f.Version), 10)
	case "account-id":
		return str(b, ifc.Account)
	case "interface-id":
		return str(b, ifc.ID)
	case "start":
		return strconv.AppendInt(b, r.Start, 10)
	case "end":
		return strconv.AppendInt(b, r.End, 10)
	case "log-status":
		return append(b, r.Status.String()...)
	case "vpc-id":
		return str(b, ifc.VPC)
	case "subnet-id":
		return str(b, ifc.Subnet)
	case "instance-id":
		return str(b, ifc.Instance)
	case "region":
		return str(b, ifc.Region)
	case "az-id":
		return str(b, ifc.AZID)
	}
	if r.Status != OK {
		return dash(b)
	}
	fl := &r.Flow
	switch name {
	case "srcaddr":
		return append(b, r.addr(fl.Src, Egress).String()...)
	case "dstaddr":
		return append(b, r.addr(fl.Dst, Ingress).String()...)
	case "srcport":
		return strconv.AppendUint(b, uint64(fl.SrcPort), 10)
	case "dstport":
		return strconv.AppendUint(b, uint64(fl.DstPort), 10)
	case "protocol":
		return strconv.AppendUint(b, uint64(fl.Proto), 10)
	case "packets":
		return strconv.AppendUint(b, r.Packets, 10)
	case "bytes":
		return strconv.AppendUint(b, r.Bytes, 10)
	case "action":
		return append(b, r.Action.String()...)
	case "tcp-flags":
		// 0 for other protocols [UNCONFIRMED: AWS may print "-"].
		return strconv.AppendUint(b, uint64(r.Flags), 10)
	case "type":
		if fl.Src.Is4() {
			return append(b, "IPv4"...)
		}
		return append(b, "IPv6"...)
	case "pkt-srcaddr":
		return append(b, fl.Src.String()...)
	case "pkt-dstaddr":
		return append(b, fl.Dst.String()...)
	case "flow-direction":
		return append(b, r.Dir.String()...)
	case "traffic-path":
		// Egress only. 1 is another resource of the same VPC; what leaves the VPC is not
		// told apart here (internet gateway, NAT, peering) [UNCONFIRMED which of 2/8 Nitro
		// reports], so it is "-".
		if r.Dir == Egress && inPrefixes(fl.Dst, ifc.VPCPrefixes) {
			return append(b, '1')
		}
		return dash(b)
	}
	// sublocation-*, pkt-*-aws-service, ecs-*, reject-reason: nothing in Stockade.
	return dash(b)
}

// addr is srcaddr (side Egress) or dstaddr (side Ingress): the interface's own side of an
// IPv4 record is its primary private address even if the packet used a secondary one (A1);
// the remote side and IPv6 are as in the packet.
func (r *Record) addr(pkt netip.Addr, side Direction) netip.Addr {
	if r.Dir == side && pkt.Is4() && r.Iface.Primary.IsValid() {
		return r.Iface.Primary
	}
	return pkt
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
