package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
)

// TestAttachOperator (kernel tier): the attachment is made, adopted as it is when whole, made
// again when an end is missing (each time the operator reaches the router), removed with its
// namespace, and DialFrom refuses a namespace that does not exist.
func TestAttachOperator(t *testing.T) {
	if why := Unavailable(); why != "" {
		t.Skip("kernel tier: " + why)
	}
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	names := Names{Prefix: "o" + hex.EncodeToString(b)}
	ctx := context.Background()
	router, op := names.Router("vpc-1"), names.OperatorOf("vpc-1")
	t.Cleanup(func() {
		_ = Remove(ctx, op.Namespace)
		_ = Remove(ctx, router)
	})
	if _, err := AttachOperator(ctx, router, op); err == nil {
		t.Fatal("an attachment to a router that does not exist was made")
	}
	if _, err := CreateRouter(ctx, router); err != nil {
		t.Fatal(err)
	}
	reach := func(step string) {
		t.Helper()
		if err := Ping(op.Namespace, OperatorGateway, PassTimeout); err != nil {
			t.Errorf("%s: the operator does not reach the router: %v", step, err)
		}
	}
	for i, want := range []bool{true, false} {
		created, err := AttachOperator(ctx, router, op)
		if err != nil || created != want {
			t.Fatalf("attach %d: created=%v, %v; want created=%v", i, created, err, want)
		}
		reach("attach")
	}
	rh, err := handle(router)
	if err != nil {
		t.Fatal(err)
	}
	defer rh.Close()
	l, err := rh.LinkByName(op.Link)
	if err != nil {
		t.Fatal(err)
	}
	if err := rh.LinkDel(l); err != nil { // both ends go
		t.Fatal(err)
	}
	if created, err := AttachOperator(ctx, router, op); err != nil || !created {
		t.Fatalf("attach after the link went: created=%v, %v; want it made again", created, err)
	}
	reach("made again")
	if err := Remove(ctx, op.Namespace); err != nil {
		t.Fatal(err)
	}
	// The kernel takes the pair down with the namespace, but later, from a work queue: what
	// the test can check at once is that the namespace is gone.
	if Exists(op.Namespace) {
		t.Error("the operator namespace outlived Remove")
	}
	if _, err := DialFrom(op.Namespace, "tcp", OperatorGateway.String()+":22", PassTimeout); err == nil {
		t.Error("DialFrom a removed namespace succeeded")
	}
}
