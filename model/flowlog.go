package model

import (
	"path/filepath"
	"strings"
	"time"
)

// FlowLog is a flow-log definition: which traffic of a VPC, subnet or interface to record, in
// which format, and where (spec §7). It is immutable once created.
type FlowLog struct {
	ID            string    `json:"id"`
	ResourceID    string    `json:"resource"`
	ResourceType  string    `json:"resourceType"` // VPC, Subnet or NetworkInterface
	TrafficType   string    `json:"traffic"`      // ACCEPT, REJECT or ALL
	DestType      string    `json:"destType"`     // cloud-watch-logs or s3
	Destination   string    `json:"dest,omitempty"`
	LogGroupName  string    `json:"logGroup,omitempty"`
	PermissionArn string    `json:"permission,omitempty"`
	Format        string    `json:"format"`
	Interval      int       `json:"interval"`
	Created       time.Time `json:"created"`
	Tags          Tags      `json:"tags,omitempty"`
}

// DefaultFlowLogFormat is AWS's default record format, version 2.
const DefaultFlowLogFormat = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"

// FlowLogFields are the record fields a custom format may use, with the format version that
// introduced each.
var FlowLogFields = map[string]int{
	"version": 2, "account-id": 2, "interface-id": 2, "srcaddr": 2, "dstaddr": 2, "srcport": 2, "dstport": 2,
	"protocol": 2, "packets": 2, "bytes": 2, "start": 2, "end": 2, "action": 2, "log-status": 2,
	"vpc-id": 3, "subnet-id": 3, "instance-id": 3, "tcp-flags": 3, "type": 3, "pkt-srcaddr": 3, "pkt-dstaddr": 3,
	"region": 4, "az-id": 4, "sublocation-type": 4, "sublocation-id": 4,
	"pkt-src-aws-service": 5, "pkt-dst-aws-service": 5, "flow-direction": 5, "traffic-path": 5,
}

// ParseFlowLogFormat checks a custom format: "${field}" tokens separated by single spaces, at
// least one, each a known field. It returns the field names.
func ParseFlowLogFormat(format string) ([]string, error) {
	if format == "" {
		return nil, InvalidParameter.Errorf("LogFormat must name at least one field")
	}
	var fields []string
	var unknown []string
	for _, tok := range strings.Split(format, " ") {
		name, ok := strings.CutPrefix(tok, "${")
		if ok {
			name, ok = strings.CutSuffix(name, "}")
		}
		if !ok || name == "" {
			return nil, InvalidParameter.Errorf("LogFormat token %q is not of the form ${field} (fields are separated by single spaces)", tok)
		}
		if _, known := FlowLogFields[name]; !known {
			unknown = append(unknown, name)
		}
		fields = append(fields, name)
	}
	if len(unknown) > 0 {
		return nil, InvalidParameter.Errorf("Unknown fields provided: %s", strings.Join(unknown, ", "))
	}
	return fields, nil
}

// LocalPath is where Stockade writes this flow log's records under the data directory:
//   - s3, arn:aws:s3:::BUCKET/PREFIX → DATA/flowlogs/s3/BUCKET/PREFIX/ (one file per interval)
//   - cloud-watch-logs, log group NAME → DATA/flowlogs/cloudwatch/NAME.log
func (f *FlowLog) LocalPath(dataDir string) string {
	if f.DestType == "s3" {
		rest := strings.TrimPrefix(f.Destination, "arn:aws:s3:::")
		return filepath.Join(dataDir, "flowlogs", "s3", filepath.FromSlash(rest)) + string(filepath.Separator)
	}
	return filepath.Join(dataDir, "flowlogs", "cloudwatch", f.LogGroupName+".log")
}
