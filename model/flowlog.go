package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// FlowLog is a flow-log definition: which traffic of a VPC, subnet or interface to record, in
// which format, and where (spec §7). It is immutable once created.
type FlowLog struct {
	ID            string `json:"id"`
	ResourceID    string `json:"resource"`
	ResourceType  string `json:"resourceType"` // VPC, Subnet or NetworkInterface
	TrafficType   string `json:"traffic"`      // ACCEPT, REJECT or ALL
	DestType      string `json:"destType"`     // cloud-watch-logs or s3
	Destination   string `json:"dest,omitempty"`
	LogGroupName  string `json:"logGroup,omitempty"`
	PermissionArn string `json:"permission,omitempty"`
	Format        string `json:"format"`
	Interval      int    `json:"interval"`
	// DestinationOptions of an s3 destination: Hive-compatible prefixes
	// (aws-account-id=…/…/year=…) and hourly partitions (…/HH/) in object keys.
	HivePartitions bool      `json:"hive,omitempty"`
	PerHour        bool      `json:"hourly,omitempty"`
	Created        time.Time `json:"created"`
	Tags           Tags      `json:"tags,omitempty"`
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
	// Version 7: the sender's ECS task metadata (added 2024). Version 6 is the transit
	// gateway's format and has no field here.
	"ecs-cluster-arn": 7, "ecs-cluster-name": 7, "ecs-container-instance-arn": 7, "ecs-container-instance-id": 7,
	"ecs-container-id": 7, "ecs-second-container-id": 7, "ecs-service-name": 7, "ecs-task-definition-arn": 7,
	"ecs-task-arn": 7, "ecs-task-id": 7,
	// reject-reason (VPC Block Public Access) [UNCONFIRMED: version 8].
	"reject-reason": 8,
}

// FlowLogVersion is the version a record of these fields reports: the highest version
// among them, whether or not "version" itself is one of them (a v2+v3+v4 mix reports 4).
func FlowLogVersion(fields []string) int {
	v := 2
	for _, f := range fields {
		v = max(v, FlowLogFields[f])
	}
	return v
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

// LocalPath is where Stockade would write this flow log's records for the account and region
// that own it, under dataDir:
//   - cloud-watch-logs, log group NAME → DATA/flowlogs/ACCOUNT/REGION/cloudwatch/lg-SAFE-HASH.log
//   - s3, arn:aws:s3:::BUCKET/PREFIX   → DATA/flowlogs/ACCOUNT/REGION/s3/s3-SAFE-HASH/
//
// SAFE is the destination with every character outside [A-Za-z0-9._-] replaced by '_' and
// HASH the start of its SHA-256, so that distinct destinations get distinct paths. The
// tenant's text is thus only ever one path element behind a fixed prefix ("lg-", "s3-"): no
// name can be ".", "..", absolute or hold a separator, and the path stays under
// DATA/flowlogs/ACCOUNT/REGION whatever the name (CreateFlowLogs also refuses such names
// first). Accounts are separate directories, so two tenants naming the same bucket or log
// group never share a file (security review 5.4).
//
// Nothing calls LocalPath in production: records go to the account's own buckets and log
// groups (package flowlog, through objstore and logstore), as on AWS. The error is for an
// account or region that is not the shape EC2 gives them.
func (f *FlowLog) LocalPath(dataDir, account, region string) (string, error) {
	if !isDigits(account, 12) {
		return "", fmt.Errorf("flow log %s: account %q is not 12 digits", f.ID, account)
	}
	if region == "" || len(region) > 32 || strings.Trim(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return "", fmt.Errorf("flow log %s: region %q is not a region name", f.ID, region)
	}
	base := filepath.Join(dataDir, "flowlogs", account, region)
	if f.DestType == "s3" {
		return filepath.Join(base, "s3", "s3-"+flatName(strings.TrimPrefix(f.Destination, "arn:aws:s3:::"))) + string(filepath.Separator), nil
	}
	return filepath.Join(base, "cloudwatch", "lg-"+flatName(f.LogGroupName)+".log"), nil
}

// flatName maps a destination to one safe path element (see LocalPath).
func flatName(s string) string {
	sum := sha256.Sum256([]byte(s))
	safe := []byte(s)
	for i, c := range safe {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			safe[i] = '_'
		}
	}
	if len(safe) > 100 {
		safe = safe[:100] // file names stay well under NAME_MAX; the hash keeps them distinct
	}
	return string(safe) + "-" + hex.EncodeToString(sum[:8])
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
