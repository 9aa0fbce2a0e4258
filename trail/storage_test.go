package trail

import (
	"fmt"
	"testing"
	"time"
)

// TestTimeKey: the outbox's and the replica's time keys are fmt's "%012d" of the Unix
// seconds, which they replaced on every change's path, for any time.
func TestTimeKey(t *testing.T) {
	for _, n := range []int64{0, 1, 9, 10, 1733112000, 99999999999, 999999999999, 1000000000000, 1 << 40, -1, -123456} {
		tm := time.Unix(n, 0)
		if got, want := timeKey(tm), fmt.Sprintf("%012d", n); got != want {
			t.Errorf("timeKey(%d) = %q, want %q", n, got, want)
		}
		r := &Record{Time: tm, EventID: "e1"}
		if got, want := outboxKey(r), OutboxPrefix+fmt.Sprintf("%012d", n)+"/e1"; got != want {
			t.Errorf("outboxKey = %q, want %q", got, want)
		}
	}
}

// TestOpsIsEntry: a staged record's store value is its entry as the Log keeps it, whether
// its JSON was made before or is written in place by Ops, and the record keeps that JSON.
func TestOpsIsEntry(t *testing.T) {
	for _, before := range []bool{false, true} {
		c := Call{Service: EC2, Action: "AuthorizeSecurityGroupIngress", Identity: alice, SourceIP: "10.0.0.1",
			Region: "eu-west-1", RequestID: "r1", Time: time.Unix(1733112000, 0),
			Params: q("GroupId", "sg-1", "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")}
		r, err := Build(c)
		if err != nil {
			t.Fatal(err)
		}
		fresh, _ := Build(c)
		fresh.EventID = r.EventID
		if before {
			r.JSON()
		}
		ops := r.Ops()
		want := entryOf(fresh).encode(nil)
		if len(ops) != 1 || string(ops[0].Value) != string(want) {
			t.Fatalf("JSON made before: %v\nops   %q\nentry %q", before, ops[0].Value, want)
		}
		if string(r.JSON()) != string(fresh.JSON()) || r.respAt != fresh.respAt {
			t.Errorf("JSON made before: %v: the record's JSON is %q (respAt %d), want %q (%d)", before, r.JSON(), r.respAt, fresh.JSON(), fresh.respAt)
		}
	}
}
