package netlab

import (
	"context"
	"net/netip"
	"testing"
)

// TestWired: an interface is wired once Attach made its link on the router, and not before,
// nor after Unplug, nor when the router does not exist (what a restarted reconciler asks of
// an adopted instance's interfaces).
func TestWired(t *testing.T) {
	h := newTestbed(t, 1).Host("h1")
	ctx := context.Background()
	router := h.Names.Router("vpc-1")
	i := Interface{Namespace: h.Names.Instance("i-1"), Link: h.Names.Link("eni-1"), Addr: netip.MustParseAddr("10.0.1.10"),
		Subnet: netip.MustParsePrefix("10.0.1.0/24")}
	wired := func(want bool) {
		t.Helper()
		if got, err := Wired(ctx, router, i); err != nil || got != want {
			t.Errorf("Wired = %v, %v; want %v", got, err, want)
		}
	}
	wired(false) // no router
	if _, err := CreateRouter(ctx, router); err != nil {
		t.Fatal(err)
	}
	wired(false)
	if err := Attach(ctx, router, i); err != nil {
		t.Fatal(err)
	}
	wired(true)
	if err := Unplug(ctx, router, i); err != nil {
		t.Fatal(err)
	}
	wired(false)
}
