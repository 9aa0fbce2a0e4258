package control

import (
	"context"
	"regexp"
	"strings"

	"github.com/stockade/stockade/model"
)

// CreateFlowLogsInput are CreateFlowLogs' parameters.
type CreateFlowLogsInput struct {
	ResourceIDs   []string
	ResourceType  string
	TrafficType   string
	DestType      string
	Destination   string
	LogGroupName  string
	PermissionArn string
	Format        string
	Interval      int
	HasInterval   bool
	// DestinationOptions (s3 only): FileFormat "plain-text" (Stockade writes no Parquet),
	// Hive-compatible prefixes and hourly partitions in object keys.
	FileFormat     string
	HivePartitions bool
	PerHour        bool
	Tags           model.Tags
	ClientToken    string
	DryRun         bool
}

// FlowLogFailure is one resource CreateFlowLogs or DeleteFlowLogs could not act on.
type FlowLogFailure struct {
	ResourceID, Code, Message string
}

func flowLogFailure(resourceID string, e *model.Error) FlowLogFailure {
	return FlowLogFailure{resourceID, e.Code, e.Message}
}

var (
	// s3Arn is a bucket ARN with an optional prefix of S3's "safe" key characters (AWS's
	// object-key guidelines), at most 512 in all.
	s3Arn       = regexp.MustCompile(`^arn:aws:s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[A-Za-z0-9!_.*'()/-]{0,512})?$`)
	logGroupArn = regexp.MustCompile(`^arn:aws:logs:[a-z0-9-]+:[0-9]{12}:log-group:([^:]+)(:\*)?$`)
	// logGroupRE is CloudWatch Logs' rule for log group names: 1-512 of [.\-_/#A-Za-z0-9].
	logGroupRE = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]{1,512}$`)
)

// checkDestinationPath refuses what would make a flow-log destination a path of its own rather
// than a name: a leading '/', an empty, "." or ".." element. Stockade keeps records under its
// data directory (model.FlowLog.LocalPath), so such names are refused, never resolved; what
// is left of the name is only ever one element of a path there.
func checkDestinationPath(what, v, rest string) error {
	if strings.HasPrefix(rest, "/") {
		return model.InvalidParameter.Errorf("%s %q must not start with '/'.", what, v)
	}
	if strings.TrimSuffix(rest, "/") == "" {
		return nil // a bucket with no prefix ("bucket/" as "bucket")
	}
	for _, el := range strings.Split(strings.TrimSuffix(rest, "/"), "/") {
		switch el {
		case "":
			return model.InvalidParameter.Errorf("%s %q must not contain empty path segments ('//').", what, v)
		case ".", "..":
			return model.InvalidParameter.Errorf("%s %q must not contain '.' or '..' path segments.", what, v)
		}
	}
	return nil
}

// CreateFlowLogsOutput is what CreateFlowLogs returns: the IDs of the flow logs it created
// and the resources it could not act on.
type CreateFlowLogsOutput struct {
	IDs    []string
	Failed []FlowLogFailure
}

// CreateFlowLogs validates the definition once, then creates one flow log per resource;
// resources that do not exist, already have this flow log or are at the limit are reported
// in the failures, as EC2 does, while the others are created.
func (s *Service) CreateFlowLogs(ctx context.Context, t Tenant, in CreateFlowLogsInput) (CreateFlowLogsOutput, Result, error) {
	tmpl, err := flowLogTemplate(t, in)
	if err != nil {
		return CreateFlowLogsOutput{}, Result{}, err
	}
	var ids []string
	var failed []FlowLogFailure
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		fp := fingerprint("CreateFlowLogs", in)
		if prev, done, err := tx.replay("CreateFlowLogs", in.ClientToken, fp); err != nil || done {
			ids = prev
			return err
		}
		for _, rid := range in.ResourceIDs {
			if err := tx.tn.flowLogTarget(in.ResourceType, rid); err != nil {
				failed = append(failed, flowLogFailure(rid, err.(*model.Error)))
				continue
			}
			n := 0
			dup := false
			for _, f := range tx.tn.flowLogs {
				if f.ResourceID == rid {
					n++
					dup = dup || (f.DestType == tmpl.DestType && f.Destination == tmpl.Destination && f.LogGroupName == tmpl.LogGroupName && f.TrafficType == tmpl.TrafficType)
				}
			}
			switch {
			case dup:
				failed = append(failed, flowLogFailure(rid, model.FlowLogAlreadyExists.New()))
				continue
			case n >= s.cfg.Quotas.FlowLogsPerResource:
				failed = append(failed, flowLogFailure(rid, model.FlowLogsLimitExceeded.New()))
				continue
			}
			f := tmpl
			f.ID, f.ResourceID, f.Created, f.Tags = model.NewID(model.PrefixFlowLog), rid, tx.now, in.Tags.Clone()
			set(tx, tx.tn.flowLogs, kindFlowLog, f.ID, &f)
			ids = append(ids, f.ID)
		}
		if len(ids) > 0 {
			tx.remember("CreateFlowLogs", in.ClientToken, fp, ids...)
		}
		return nil
	})
	return CreateFlowLogsOutput{IDs: ids, Failed: failed}, res, err
}

// flowLogTemplate validates what is common to every flow log of the request.
func flowLogTemplate(t Tenant, in CreateFlowLogsInput) (model.FlowLog, error) {
	f := model.FlowLog{ResourceType: in.ResourceType, TrafficType: in.TrafficType, DestType: in.DestType, Format: in.Format,
		Interval: 600, PermissionArn: in.PermissionArn}
	// Bounds on what is stored as given (lengths of ARNs as IAM and S3 allow them; an S3 key
	// prefix is at most 1,024 bytes; LogFormat's bound is Stockade's, [UNCONFIRMED] EC2's).
	for _, v := range []struct {
		name, v string
		max     int
	}{{"DeliverLogsPermissionArn", in.PermissionArn, 2048}, {"LogDestination", in.Destination, 1100}, {"LogFormat", in.Format, 4096}} {
		if len(v.v) > v.max || !model.PrintableText(v.v) {
			return f, model.InvalidParameter.Errorf("%s must be at most %d characters of text without control characters.", v.name, v.max)
		}
	}
	switch {
	case len(in.ResourceIDs) == 0:
		return f, model.Missing("ResourceId")
	case len(in.ResourceIDs) > 25:
		return f, model.InvalidParameter.Errorf("At most 25 resources may be given in one request.")
	}
	switch in.ResourceType {
	case "VPC", "Subnet", "NetworkInterface":
	case "":
		return f, model.Missing("ResourceType")
	default:
		return f, model.InvalidParameter.Errorf("ResourceType %q is not supported: use VPC, Subnet or NetworkInterface.", in.ResourceType)
	}
	switch in.TrafficType {
	case "ACCEPT", "REJECT", "ALL":
	case "":
		return f, model.Missing("TrafficType")
	default:
		return f, model.InvalidParameter.Errorf("TrafficType %q is invalid: use ACCEPT, REJECT or ALL.", in.TrafficType)
	}
	if in.HasInterval {
		if in.Interval != 60 && in.Interval != 600 {
			return f, model.InvalidParameter.Errorf("MaxAggregationInterval must be 60 or 600 seconds, not %d.", in.Interval)
		}
		f.Interval = in.Interval
	}
	if f.Format == "" {
		f.Format = model.DefaultFlowLogFormat
	} else if _, err := model.ParseFlowLogFormat(f.Format); err != nil {
		return f, err
	}
	if err := destinationOptions(&f, in); err != nil {
		return f, err
	}
	switch in.DestType {
	case "", "cloud-watch-logs":
		f.DestType = "cloud-watch-logs"
		name := in.LogGroupName
		if in.Destination != "" {
			m := logGroupArn.FindStringSubmatch(in.Destination)
			if m == nil {
				return f, model.InvalidParameter.Errorf("LogDestination %q is not a CloudWatch Logs log group ARN.", in.Destination)
			}
			if name != "" && name != m[1] {
				return f, model.InvalidParameterCombination.Errorf("LogGroupName and LogDestination name different log groups.")
			}
			name = m[1]
		}
		if name == "" {
			return f, model.Missing("LogGroupName")
		}
		if !logGroupRE.MatchString(name) {
			return f, model.InvalidParameter.Errorf("Log group name %q is invalid: use 1-512 of the characters a-z, A-Z, 0-9, '.', '-', '_', '/' and '#'.", name)
		}
		if err := checkDestinationPath("Log group name", name, name); err != nil {
			return f, err
		}
		if in.PermissionArn == "" {
			return f, model.InvalidParameter.Errorf("DeliverLogsPermissionArn is required for the cloud-watch-logs destination type.")
		}
		f.LogGroupName = name
		f.Destination = "arn:aws:logs:" + t.Region + ":" + t.Account + ":log-group:" + name
	case "s3":
		if in.LogGroupName != "" {
			return f, model.InvalidParameterCombination.Errorf("LogGroupName cannot be used with the s3 destination type.")
		}
		m := s3Arn.FindStringSubmatch(in.Destination)
		if m == nil {
			return f, model.InvalidParameter.Errorf("LogDestination %q is not an S3 bucket ARN (arn:aws:s3:::bucket[/prefix], the prefix of a-z, A-Z, 0-9 and !_.*'()/-).", in.Destination)
		}
		if m[2] != "" {
			if err := checkDestinationPath("LogDestination", in.Destination, strings.TrimPrefix(m[2], "/")); err != nil {
				return f, err
			}
		}
		f.Destination = in.Destination
	case "kinesis-data-firehose":
		return f, model.InvalidParameter.Errorf("The kinesis-data-firehose destination type is not supported by Stockade; use s3 or cloud-watch-logs.")
	default:
		return f, model.InvalidParameter.Errorf("LogDestinationType %q is invalid: use cloud-watch-logs or s3.", in.DestType)
	}
	return f, nil
}

// destinationOptions checks and keeps DestinationOptions. They shape S3 object keys, so
// they are refused for other destinations [UNCONFIRMED: EC2's code and wording for that].
func destinationOptions(f *model.FlowLog, in CreateFlowLogsInput) error {
	if in.FileFormat == "" && !in.HivePartitions && !in.PerHour {
		return nil
	}
	if in.DestType != "s3" {
		return model.InvalidParameterCombination.Errorf("DestinationOptions can only be used with the s3 destination type.")
	}
	switch in.FileFormat {
	case "", "plain-text":
	case "parquet":
		return model.InvalidParameter.Errorf("The parquet file format is not supported by Stockade; use plain-text.")
	default:
		return model.InvalidParameter.Errorf("DestinationOptions.FileFormat %q is invalid: use plain-text or parquet.", in.FileFormat)
	}
	f.HivePartitions, f.PerHour = in.HivePartitions, in.PerHour
	return nil
}

// flowLogTarget checks that the resource a flow log watches exists.
func (tn *tenant) flowLogTarget(typ, id string) error {
	var err error
	switch typ {
	case "VPC":
		_, err = tn.vpc(id)
	case "Subnet":
		_, err = tn.subnet(id)
	case "NetworkInterface":
		_, err = tn.eni(id)
	}
	return err
}

// DeleteFlowLogsInput are DeleteFlowLogs' parameters.
type DeleteFlowLogsInput struct {
	IDs    []string
	DryRun bool
}

// DeleteFlowLogs deletes flow logs; unknown IDs are reported as failures.
func (s *Service) DeleteFlowLogs(ctx context.Context, t Tenant, in DeleteFlowLogsInput) ([]FlowLogFailure, Result, error) {
	ids := in.IDs
	if len(ids) == 0 {
		return nil, Result{}, model.Missing("FlowLogId")
	}
	if len(ids) > 1000 {
		return nil, Result{}, model.InvalidValue("At most 1000 flow log IDs may be given")
	}
	var failed []FlowLogFailure
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		for _, id := range ids {
			if tx.tn.flowLogs[id] == nil {
				failed = append(failed, FlowLogFailure{id, "InvalidFlowLogId.NotFound", "These flow log ids in the input list are not found: [TotalCount: 1] " + id})
				continue
			}
			set[model.FlowLog](tx, tx.tn.flowLogs, kindFlowLog, id, nil)
		}
		return nil
	})
	return failed, res, err
}

// dropFlowLogs deletes the flow logs of a resource that is being deleted.
func (tx *tx) dropFlowLogs(resourceID string) {
	for id, f := range tx.tn.flowLogs {
		if f.ResourceID == resourceID {
			set[model.FlowLog](tx, tx.tn.flowLogs, kindFlowLog, id, nil)
		}
	}
}
