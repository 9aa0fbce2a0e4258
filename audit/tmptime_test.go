package audit

import (
	"fmt"
	"testing"
	"time"

	"github.com/stockade/stockade/policy"
)

func TestTmpTimes(t *testing.T) {
	s := genNet(1, 100, 10000, 20, 10000)
	t0 := time.Now()
	p, _ := policy.Compile(s)
	fmt.Println("compile", time.Since(t0))
	a := newAudit(Input{Account: account, Region: "us-east-1", Snapshot: s, Now: time.Now()}, DefaultConfig(), p)
	for _, c := range a.checks() {
		if a.missing(c.Needs) != "" {
			continue
		}
		t1 := time.Now()
		n := len(c.Run(a))
		fmt.Println(c.ID, n, time.Since(t1))
	}
}
