package trail

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

// TestEvents: the records of the names asked for, inside the window, of the scope only,
// oldest first across names, and across more than one page of the index.
func TestEvents(t *testing.T) {
	l := openLog(t, t.TempDir(), LogOptions{})
	var recs []*Record
	var want []string
	for i := range maxEventsPage + 5 { // more than a page of one name
		action := "AuthorizeSecurityGroupIngress"
		if i%2 == 1 {
			action = "RevokeSecurityGroupIngress"
		}
		at := callTime.Add(time.Duration(i) * time.Second)
		recs = append(recs, rec(t, action, "sg-1", at, fmt.Sprintf("e-%05d", i)))
		if i >= 2 {
			want = append(want, fmt.Sprintf("e-%05d", i))
		}
	}
	recs = append(recs, rec(t, "DescribeSecurityGroups", "sg-1", callTime.Add(3*time.Second), "e-describe"))
	other := rec(t, "AuthorizeSecurityGroupIngress", "sg-1", callTime.Add(3*time.Second), "e-other-region")
	other.AWSRegion = "us-east-1"
	appendRecords(t, l, append(recs, other)...)

	got, err := l.Events(acct, "eu-west-1", []string{"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"},
		callTime.Add(2*time.Second), callTime.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ids := recordIDs(t, got)
	if diff := gocmp.Diff(want, ids); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// recordIDs are the records' eventIDs, in order.
func recordIDs(t *testing.T, records []json.RawMessage) []string {
	t.Helper()
	var ids []string
	for _, js := range records {
		var r struct {
			EventID string `json:"eventID"`
		}
		if err := json.Unmarshal(js, &r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.EventID)
	}
	return ids
}

// TestEventsSameSecond: records of the same second come in the order the log appended them —
// an authorize and the revoke that undid it within the second, whatever their random
// eventIDs — so that MON-003 sees the exposure open and then close.
func TestEventsSameSecond(t *testing.T) {
	l := openLog(t, t.TempDir(), LogOptions{})
	at := callTime.Add(10 * time.Second)
	appendRecords(t, l, rec(t, "AuthorizeSecurityGroupIngress", "sg-1", at, "e-zzz-authorize"))
	appendRecords(t, l, rec(t, "RevokeSecurityGroupIngress", "sg-1", at.Add(300*time.Millisecond), "e-aaa-revoke"))
	got, err := l.Events(acct, "eu-west-1", []string{"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"}, callTime, callTime.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ids := recordIDs(t, got)
	if diff := gocmp.Diff([]string{"e-zzz-authorize", "e-aaa-revoke"}, ids); diff != "" {
		t.Errorf("events of one second (-want +got):\n%s", diff)
	}
}
