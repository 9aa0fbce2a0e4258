package model

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlowLogLocalPath(t *testing.T) {
	const data, alice, mallory = "/data", "111122223333", "444455556666"
	s3 := FlowLog{DestType: "s3", Destination: "arn:aws:s3:::flow-bucket/prod/vpc"}
	cw := FlowLog{DestType: "cloud-watch-logs", LogGroupName: "vpc-flows"}
	tests := []struct {
		f               FlowLog
		account, region string
		want            string
	}{
		{s3, alice, "us-east-1", "/data/flowlogs/111122223333/us-east-1/s3/s3-flow-bucket_prod_vpc-" + hash8("flow-bucket/prod/vpc") + "/"},
		{cw, alice, "us-east-1", "/data/flowlogs/111122223333/us-east-1/cloudwatch/lg-vpc-flows-" + hash8("vpc-flows") + ".log"},
		// Two accounts naming the same destination get separate paths (security review 5.4).
		{cw, mallory, "us-east-1", "/data/flowlogs/444455556666/us-east-1/cloudwatch/lg-vpc-flows-" + hash8("vpc-flows") + ".log"},
		{cw, alice, "eu-west-1", "/data/flowlogs/111122223333/eu-west-1/cloudwatch/lg-vpc-flows-" + hash8("vpc-flows") + ".log"},
	}
	for _, tt := range tests {
		got, err := tt.f.LocalPath(data, tt.account, tt.region)
		if err != nil || got != tt.want {
			t.Errorf("%s %s %+v: %s %v, want %s", tt.account, tt.region, tt.f, got, err, tt.want)
		}
	}
	// "a/b" and "a_b" are different log groups, so they are different files.
	ab, _ := (&FlowLog{LogGroupName: "a/b"}).LocalPath(data, alice, "us-east-1")
	a_b, _ := (&FlowLog{LogGroupName: "a_b"}).LocalPath(data, alice, "us-east-1")
	if ab == a_b {
		t.Errorf("a/b and a_b share %s", ab)
	}
	for _, bad := range [][2]string{{"11112222333", "us-east-1"}, {"../../../../x", "us-east-1"}, {alice, "../.."}, {alice, "us/east"}, {alice, ""}} {
		if p, err := cw.LocalPath(data, bad[0], bad[1]); err == nil {
			t.Errorf("account %q region %q: %s", bad[0], bad[1], p)
		}
	}
}

// TestFlowLogLocalPathStaysUnder: whatever a tenant names (the names CreateFlowLogs refuses
// included), the path is one element below DATA/flowlogs/ACCOUNT/REGION/KIND, unresolved.
func TestFlowLogLocalPathStaysUnder(t *testing.T) {
	hostile := []string{"..", ".", "/", "", "../../credentials", "../../../../../../etc/cron.d/x", "/etc/passwd", "a/../../b",
		"a//b", "..%2f..%2fetc", "a\x00b", "a\nb", `..\..\x`, strings.Repeat("../", 300), strings.Repeat("é", 400), "-rf", ".hidden"}
	for _, name := range hostile {
		for _, f := range []FlowLog{{LogGroupName: name}, {DestType: "s3", Destination: "arn:aws:s3:::" + name}, {DestType: "s3", Destination: "arn:aws:s3:::bucket/" + name}} {
			got, err := f.LocalPath("/data", "111122223333", "us-east-1")
			if err != nil {
				t.Fatalf("%q: %v", name, err)
			}
			kind := "cloudwatch"
			if f.DestType == "s3" {
				kind = "s3"
			}
			dir, file := filepath.Split(strings.TrimSuffix(got, "/"))
			if dir != "/data/flowlogs/111122223333/us-east-1/"+kind+"/" || file == "" || file == "." || file == ".." ||
				strings.ContainsAny(file, "/\\\x00\n") || len(file) > 255 || filepath.Clean(got) != strings.TrimSuffix(got, "/") {
				t.Errorf("%q (%s): %q is not one plain element under the account's %s directory", name, f.DestType, got, kind)
			}
			if !strings.HasPrefix(file, "lg-") && !strings.HasPrefix(file, "s3-") {
				t.Errorf("%q: %q does not start with its fixed prefix", name, file)
			}
		}
	}
}

// hash8 is the first 8 bytes of s's SHA-256 in hex, computed here rather than by flatName.
func hash8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

func TestFlowLogVersion(t *testing.T) {
	for _, tt := range []struct {
		format string
		want   int
	}{
		{DefaultFlowLogFormat, 2},
		{"${srcaddr} ${tcp-flags}", 3},
		{"${version} ${vpc-id} ${az-id} ${srcaddr}", 4},
		{"${flow-direction}", 5},
		{"${ecs-task-id} ${srcaddr}", 7},
	} {
		fields, err := ParseFlowLogFormat(tt.format)
		if err != nil {
			t.Fatalf("%q: %v", tt.format, err)
		}
		if got := FlowLogVersion(fields); got != tt.want {
			t.Errorf("%q: version %d, want %d", tt.format, got, tt.want)
		}
	}
}
