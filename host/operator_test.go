package host_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/host/nsfake"
)

func (e *env) operators(want ...string) {
	e.t.Helper()
	if diff := cmp.Diff(want, e.ns.Operators()); diff != "" {
		e.t.Errorf("operator namespaces (-want +got):\n%s", diff)
	}
}

// TestOperatorWithRouter: a VPC's router gets its operator attachment when it is made, the
// ruleset lets the operator address in through its link, `lab list` names the operator
// namespace, and the attachment goes with the router.
func TestOperatorWithRouter(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.src.launch(1, "")
	e.src.launch(2, "")
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.operators("t-op-vpc-1>t-vpc-1")
	if got := e.h.Instances(); len(got) != 2 || got[0].Operator != "t-op-vpc-1" || got[1].Operator != "t-op-vpc-1" {
		t.Errorf("Instances() = %+v, want the operator namespace on each", got)
	}
	if txs := e.k.Transactions("t-vpc-1"); len(txs) != 1 || !strings.Contains(txs[0], `"t-op" . 100.64.0.2`) {
		t.Errorf("the ruleset does not let the operator in through its link: %q", txs)
	}
	e.src.terminate(1)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.operators("t-op-vpc-1>t-vpc-1")
	e.src.terminate(2)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.dump()
	e.operators()
}

// TestOperatorFailureHoldsForwarding: a router whose operator attachment cannot be made is
// not programmed (it would be the only router without one); the retry makes it.
func TestOperatorFailureHoldsForwarding(t *testing.T) {
	e := newEnv(t, nil, nil)
	rev := e.src.launch(1, "")
	e.ns.Fail("operator", "t-op-vpc-1", nsfake.ErrFake)
	if err := e.reconcile(); err == nil || !strings.Contains(err.Error(), "vpc-1") {
		t.Fatalf("err = %v, want one naming vpc-1", err)
	}
	e.dump("router t-vpc-1 forwarding=off links=")
	if e.h.Enforced() >= rev {
		t.Errorf("enforced %d claimed without the router", e.h.Enforced())
	}
	e.ns.Fail("operator", "t-op-vpc-1", nil)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.operators("t-op-vpc-1>t-vpc-1")
	e.wait(rev)
}

// TestOperatorAdoptAndSweep: after a restart, the attachment of a router still wanted is
// adopted; operator namespaces of routers gone meanwhile (whose links went with them) are
// removed, and so is a half-made one whose link is gone; other labs' are left alone.
func TestOperatorAdoptAndSweep(t *testing.T) {
	ns := &nsfake.Fake{}
	ns.Add("t-vpc-1", true)
	ns.Add("t-i-1", false)
	ns.AddOperator("t-op-vpc-1", "t-vpc-1")
	ns.AddOperator("t-op-vpc-9", "")          // its router went while the server was down
	ns.Add("t-vpc-8", true)                   // a router no VPC wants any more
	ns.AddOperator("t-op-vpc-8", "t-vpc-8")   // and its operator
	ns.AddOperator("other-op-vpc-1", "other") // not ours
	e := newEnv(t, nil, ns)
	e.src.launch(1, "")
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.operators("other-op-vpc-1>other", "t-op-vpc-1>t-vpc-1")
	// Once applied whole, the host no longer lists namespaces on every change.
	ns.AddOperator("t-op-vpc-7", "")
	e.src.authorize(22)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	e.operators("other-op-vpc-1>other", "t-op-vpc-1>t-vpc-1", "t-op-vpc-7>")
	if err := e.h.Close(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	e.operators("other-op-vpc-1>other", "t-op-vpc-7>")
}
