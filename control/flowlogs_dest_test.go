package control

import (
	"context"
	"strings"
	"testing"
)

// TestFlowLogDestinationsAreNames is the security review's 5.3: a log group name or S3 prefix
// that would be a path of its own ("..", a leading '/', '//', odd characters) is refused with
// InvalidParameter and changes nothing, in the name and in the ARN forms alike.
func TestFlowLogDestinationsAreNames(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	vpc, _, err := s.CreateVPC(ctx, alice, CreateVPCInput{CIDR: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	cw := func(name string) CreateFlowLogsInput {
		return CreateFlowLogsInput{ResourceIDs: []string{vpc.ID}, ResourceType: "VPC", TrafficType: "ALL", LogGroupName: name,
			PermissionArn: "arn:aws:iam::111122223333:role/flow-logs"}
	}
	cwArn := func(name string) CreateFlowLogsInput {
		in := cw("")
		in.Destination = "arn:aws:logs:us-east-1:111122223333:log-group:" + name
		return in
	}
	s3 := func(dest string) CreateFlowLogsInput {
		return CreateFlowLogsInput{ResourceIDs: []string{vpc.ID}, ResourceType: "VPC", TrafficType: "ALL", DestType: "s3", Destination: dest}
	}
	bad := map[string]CreateFlowLogsInput{
		"dot-dot":               cw(".."),
		"dot":                   cw("."),
		"climb":                 cw("../../../../../../etc/cron.d/stockade-probe"),
		"credentials":           cw("../../credentials"),
		"absolute":              cw("/etc/cron.d/stockade-probe2"),
		"slash":                 cw("/"),
		"inner dot-dot":         cw("a/../../b"),
		"double slash":          cw("a//b"),
		"space":                 cw("a b"),
		"control":               cw("a\x01"),
		"too long":              cw(strings.Repeat("a", 513)),
		"arn climb":             cwArn("../../../../../../root/.bashrc"),
		"arn absolute":          cwArn("/etc/passwd"),
		"arn empty":             cwArn(""),
		"s3 climb":              s3("arn:aws:s3:::bucket/../../../etc"),
		"s3 dot-dot at the end": s3("arn:aws:s3:::bucket/a/.."),
		"s3 double slash":       s3("arn:aws:s3:::bucket//etc/cron.d"),
		"s3 percent":            s3("arn:aws:s3:::bucket/..%2f..%2fetc"),
		"s3 backslash":          s3(`arn:aws:s3:::bucket/a\b`),
		"s3 dot":                s3("arn:aws:s3:::bucket/./a"),
		"s3 space":              s3("arn:aws:s3:::bucket/a b"),
	}
	before := s.Revision()
	for name, in := range bad {
		t.Run(name, func(t *testing.T) {
			out, _, err := s.CreateFlowLogs(ctx, alice, in)
			if code(err) != "InvalidParameter" || len(out.IDs) != 0 {
				t.Errorf("got %v %v, want InvalidParameter", out.IDs, err)
			}
		})
	}
	if s.Revision() != before {
		t.Errorf("refused requests wrote: revision %d → %d", before, s.Revision())
	}
	for _, in := range []CreateFlowLogsInput{cw("vpc-flows"), cw("aws/vpc/flows#1"), cw("a.b_c-d"), cwArn("team.flows"),
		s3("arn:aws:s3:::flow-bucket"), s3("arn:aws:s3:::flow-bucket/"), s3("arn:aws:s3:::flow-bucket/prod/vpc-1/"), s3("arn:aws:s3:::b-1/it's(ok)!*")} {
		if _, _, err := s.CreateFlowLogs(ctx, alice, in); err != nil {
			t.Errorf("%q %q refused: %v", in.LogGroupName, in.Destination, err)
		}
	}
}
