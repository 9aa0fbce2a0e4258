package audit

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestHistory: an episode opens at its revision and closes at another; an open one stays
// open across a restart (Restore, then Reconcile); closed episodes beyond the bound are
// forgotten oldest first; only SGA-001…007 episodes within the window are flaps.
func TestHistory(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ssh := Finding{Check: "SGA-002", Severity: High, Resource: "sg-1", Rules: []string{"sgr-1"}}
	tags := Finding{Check: "SGH-007", Severity: Low, Resource: "sg-1"}
	h := NewHistory(2)
	opened, closed, _ := h.Apply(Delta{Opened: []Finding{ssh, tags}}, 5, t0)
	if len(opened) != 2 || len(closed) != 0 {
		t.Fatalf("opened %v closed %v", opened, closed)
	}
	_, closed, _ = h.Apply(Delta{Closed: []Finding{ssh}}, 6, t0.Add(10*time.Minute))
	want := Episode{Finding: ssh, OpenedRevision: 5, Opened: t0, ClosedRevision: 6, Closed: t0.Add(10 * time.Minute)}
	if d := cmp.Diff([]Episode{want}, closed); d != "" {
		t.Fatalf("closed (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]Episode{want}, Flaps(closed, time.Hour)); d != "" {
		t.Errorf("flaps within the hour (-want +got):\n%s", d)
	}
	if got := Flaps(closed, 5*time.Minute); len(got) != 0 {
		t.Errorf("a 10-minute exposure is a flap within 5 minutes: %v", got)
	}
	if got := Flaps([]Episode{{Finding: tags, Opened: t0, Closed: t0.Add(time.Minute)}}, time.Hour); len(got) != 0 {
		t.Errorf("a tag finding is a flap: %v", got)
	}

	// A restart: the stored episodes come back; the first audit still has the tag finding
	// and a new one; the tag finding keeps its episode.
	open, closedEps := h.Episodes([]Finding{tags})
	h2 := NewHistory(2)
	h2.Restore(append(open, closedEps...))
	rdp := Finding{Check: "SGA-002", Severity: High, Resource: "sg-2", Rules: []string{"sgr-2"}}
	d := h2.Reconcile([]Finding{tags, rdp})
	if d2 := cmp.Diff(Delta{Opened: []Finding{rdp}}, d); d2 != "" {
		t.Fatalf("reconcile (-want +got):\n%s", d2)
	}
	h2.Apply(d, 7, t0.Add(time.Hour))
	open, _ = h2.Episodes([]Finding{tags, rdp})
	if len(open) != 2 || open[0].Finding.Check != "SGH-007" || open[0].OpenedRevision != 5 {
		t.Fatalf("open after the restart: %+v", open)
	}
	// Beyond the bound, the oldest closed episode is forgotten.
	_, _, forgotten := h2.Apply(Delta{Closed: []Finding{tags, rdp}}, 8, t0.Add(2*time.Hour))
	if len(forgotten) != 1 || forgotten[0].Finding.Key() != ssh.Key() {
		t.Fatalf("forgotten %+v", forgotten)
	}
	if _, c := h2.Episodes(nil); len(c) != 2 {
		t.Fatalf("kept %d closed episodes, want 2", len(c))
	}
}

// TestHistoryOpenFindings: an open episode lists the audit's finding of its key, as it is
// now; a restored one its stored finding until an audit has seen it, and one that the audit
// no longer has closes with that stored finding.
func TestHistoryOpenFindings(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ssh := Finding{Check: "SGA-002", Severity: High, Resource: "sg-1", Rules: []string{"sgr-1"}, Why: "ssh from anywhere"}
	tags := Finding{Check: "SGH-007", Severity: Low, Resource: "sg-1", Why: "no tags"}
	h := NewHistory(10)
	h.Apply(Delta{Opened: []Finding{ssh, tags}}, 5, t0)
	now := tags
	now.Why = "no tags at all" // the same key, explained anew by a later audit
	open, _ := h.Episodes([]Finding{ssh, now})
	if len(open) != 2 || open[1].Finding.Why != "no tags at all" || open[0].Finding.Why != "ssh from anywhere" {
		t.Fatalf("open episodes: %+v", open)
	}

	h2 := NewHistory(10)
	h2.Restore(open)
	if got, _ := h2.Episodes(nil); len(got) != 2 || got[1].Finding.Why != "no tags at all" || got[0].OpenedRevision != 5 {
		t.Fatalf("restored, before an audit: %+v", got)
	}
	d := h2.Reconcile([]Finding{tags})
	if diff := cmp.Diff(Delta{Closed: []Finding{ssh}}, d); diff != "" {
		t.Fatalf("reconcile (-want +got):\n%s", diff)
	}
	_, closed, _ := h2.Apply(d, 6, t0.Add(time.Hour))
	want := []Episode{{Finding: ssh, OpenedRevision: 5, Opened: t0, ClosedRevision: 6, Closed: t0.Add(time.Hour)}}
	if diff := cmp.Diff(want, closed); diff != "" {
		t.Fatalf("closed (-want +got):\n%s", diff)
	}
	got, _ := h2.Episodes([]Finding{tags})
	if len(got) != 1 || got[0].Finding.Why != "no tags" || got[0].OpenedRevision != 5 {
		t.Fatalf("open after the audit: %+v", got)
	}
	if got, _ := h2.Episodes(nil); len(got) != 0 {
		t.Fatalf("the audit's finding listed after it has gone from current: %+v", got)
	}
}
