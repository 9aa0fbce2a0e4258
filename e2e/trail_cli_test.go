package e2e

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"
)

// TestTrailWithAWSCLI: `aws cloudtrail lookup-events --endpoint-url …` against the server
// finds a group's creation and a rule's authorization by EventName and by ResourceName, with
// the account's root as userIdentity and §1.3's requestParameters.
func TestTrailWithAWSCLI(t *testing.T) {
	cliTest(t)
	s := startServer(t, "") // the trail is on by default
	a := awsCLI{t, s, filepath.Join(s.dataDir, "credentials"), "default"}
	var id struct{ Account string }
	a.ok(&id, "sts", "get-caller-identity")
	var g struct{ GroupId string }
	a.ok(&g, "ec2", "create-security-group", "--group-name", "web", "--description", "web tier")
	a.ok(nil, "ec2", "authorize-security-group-ingress", "--group-id", g.GroupId, "--ip-permissions",
		`IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=10.20.0.0/16,Description="ops VPN"}]`)

	type event struct {
		EventName, ReadOnly, Username, CloudTrailEvent string
		Resources                                      []struct{ ResourceType, ResourceName string }
	}
	lookup := func(key, value string) []event {
		t.Helper()
		var out struct{ Events []event }
		// A write's record commits with the change (in the trail's outbox); the complete
		// record, with what only the response names (CreateSecurityGroup's group ID), reaches
		// the trail's log within the Recorder's 20 ms, long before this CLI process starts.
		a.ok(&out, "cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey="+key+",AttributeValue="+value)
		return out.Events
	}
	auth := lookup("EventName", "AuthorizeSecurityGroupIngress")
	if len(auth) != 1 || auth[0].ReadOnly != "false" || auth[0].Username != "root" {
		t.Fatalf("EventName lookup: %+v", auth)
	}
	var rec struct {
		UserIdentity      struct{ Type, Arn, AccountId string }
		EventTime         string
		RequestParameters struct {
			GroupId       string
			IpPermissions struct {
				Items []struct {
					IpProtocol       string
					FromPort, ToPort int
					IpRanges         struct {
						Items []struct{ CidrIp, Description string }
					}
				}
			}
		}
		ResponseElements struct {
			Return bool `json:"_return"`
		}
	}
	if err := json.Unmarshal([]byte(auth[0].CloudTrailEvent), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.UserIdentity.Type != "Root" || rec.UserIdentity.Arn != "arn:aws:iam::"+id.Account+":root" ||
		rec.RequestParameters.GroupId != g.GroupId || len(rec.RequestParameters.IpPermissions.Items) != 1 ||
		rec.RequestParameters.IpPermissions.Items[0].FromPort != 22 ||
		rec.RequestParameters.IpPermissions.Items[0].IpRanges.Items[0].CidrIp != "10.20.0.0/16" {
		t.Errorf("record %s", auth[0].CloudTrailEvent)
	}
	if _, err := time.Parse(time.RFC3339, rec.EventTime); err != nil {
		t.Errorf("eventTime %q: %v", rec.EventTime, err)
	}
	names := map[string]bool{}
	for _, e := range lookup("ResourceName", g.GroupId) {
		names[e.EventName] = true
	}
	if !names["CreateSecurityGroup"] || !names["AuthorizeSecurityGroupIngress"] {
		t.Errorf("ResourceName %s finds %v", g.GroupId, names)
	}
}
