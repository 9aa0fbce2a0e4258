package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// BenchmarkEventDelivery measures the time from an AuthorizeSecurityGroupIngress reply (SSH
// from the world, through the SDK) to its "AWS API Call via CloudTrail" event reaching a
// local webhook through an alert rule: the trail's batch, the bus's match and persisted
// delivery, and the POST. Each iteration authorizes, waits for the webhook, and revokes
// (which the rule does not match).
//
//	go test -run '^$' -bench EventDelivery -benchtime 200x ./e2e
func BenchmarkEventDelivery(b *testing.B) {
	if _, err := exec.LookPath("aws"); err != nil {
		b.Skip("the AWS CLI sets the rule up")
	}
	s := startServer(b, "")
	a := awsCLI{b, s, filepath.Join(s.dataDir, "credentials"), "default"}
	got := make(chan time.Time, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got <- time.Now() }))
	defer hook.Close()
	var conn struct{ ConnectionArn string }
	a.ok(&conn, "events", "create-connection", "--name", "hook", "--authorization-type", "BASIC",
		"--auth-parameters", `{"BasicAuthParameters":{"Username":"u","Password":"p"}}`)
	in, _ := json.Marshal(map[string]string{"Name": "hook", "ConnectionArn": conn.ConnectionArn, "InvocationEndpoint": hook.URL, "HttpMethod": "POST"})
	var dest struct{ ApiDestinationArn string }
	a.ok(&dest, "events", "create-api-destination", "--cli-input-json", string(in))
	a.ok(nil, "events", "put-rule", "--name", "ssh", "--event-pattern",
		`{"detail":{"eventName":["AuthorizeSecurityGroupIngress"],"requestParameters":{"ipPermissions":{"items":{"fromPort":[22],"ipRanges":{"items":{"cidrIp":["0.0.0.0/0"]}}}}}}}`)
	a.ok(nil, "events", "put-targets", "--rule", "ssh", "--targets", "Id=hook,Arn="+dest.ApiDestinationArn)
	c := ec2Client(s, s.akid, s.secret)
	ctx := ctx(b)
	g := must[*ec2.CreateSecurityGroupOutput](b)(c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")}))
	perm := []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: perm}); err != nil {
			b.Fatal(err)
		}
		replied := time.Now()
		select {
		case at := <-got:
			lat = append(lat, at.Sub(replied))
		case <-time.After(10 * time.Second):
			b.Fatal("no event within 10 s")
		}
		if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: perm}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
