package ec2api

import (
	"testing"

	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/trail"
)

// TestRecycle: a reply's buffer goes back for another call's after a read, or with the trail
// off; not after a write, whose record the Recorder completes from the reply later, and not
// once it has grown past maxPooledReply.
func TestRecycle(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rec    *trail.Pending
		size   int
		pooled bool
	}{
		{"trail off", nil, 100, true},
		{"a read", trail.NewPending(trail.Call{Service: trail.EC2, Action: "DescribeSecurityGroups"}), 100, true},
		{"a write", trail.NewPending(trail.Call{Service: trail.EC2, Action: "AuthorizeSecurityGroupIngress"}), 100, false},
		{"a read past the bound", nil, maxPooledReply, false},
	} {
		c := &call{rec: tc.rec, req: &query.Request{Action: "DescribeSecurityGroups"}}
		c.startResponse()
		c.out.b = append(c.out.b, make([]byte, tc.size)...)
		c.recycle()
		if pooled := c.reply == nil; pooled != tc.pooled {
			t.Errorf("%s: recycled %v, want %v", tc.name, pooled, tc.pooled)
		}
	}
}
