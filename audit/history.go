package audit

import (
	"crypto/sha256"
	"slices"
	"time"
)

// Episode is one stretch of time a finding was open: opened at a store revision and time,
// closed at another (zero while it is open). The finding is the last one seen: its severity
// and explanation may have changed while it stayed open (its Key did not).
type Episode struct {
	Finding        Finding   `json:"finding"`
	OpenedRevision int64     `json:"openedRevision"`
	Opened         time.Time `json:"opened"`
	ClosedRevision int64     `json:"closedRevision,omitempty"`
	Closed         time.Time `json:"closed,omitzero"`
}

// History is the open/closed history of one account and region's findings: every open
// episode, and the latest closed ones (at most a bound, the oldest forgotten first). The
// continuous audit feeds it each audit's Delta.
//
// An open episode does not hold its finding: the audit that feeds the history holds every
// open finding already (Incremental), and at 10,000 groups a second copy of each, 50,000 of
// them, was 17 MB of the server's heap. Episodes takes the findings from the caller; only an
// episode restored from storage keeps its own until an audit has seen it again (Reconcile),
// so that one closed while the server was down closes with what it was.
type History struct {
	open   map[[sha256.Size]byte]openEpisode // by Finding.KeyDigest
	closed []Episode                         // oldest first
	max    int
}

// openEpisode is what History keeps of an open episode.
type openEpisode struct {
	OpenedRevision int64
	Opened         time.Time
	// restored is the finding it was restored with, until an audit has seen it again.
	restored *Finding
}

// DefaultHistory is how many closed episodes a History keeps per account and region.
const DefaultHistory = 1000

// NewHistory returns an empty history keeping at most max closed episodes.
func NewHistory(max int) *History {
	return &History{open: map[[sha256.Size]byte]openEpisode{}, max: max}
}

// Restore puts back episodes read from storage: open ones (Closed zero) and closed ones.
func (h *History) Restore(eps []Episode) {
	for i := range eps {
		e := &eps[i]
		if e.Closed.IsZero() {
			h.open[e.Finding.KeyDigest()] = openEpisode{OpenedRevision: e.OpenedRevision, Opened: e.Opened, restored: &e.Finding}
		} else {
			h.closed = append(h.closed, *e)
		}
	}
	slices.SortStableFunc(h.closed, func(a, b Episode) int { return a.Closed.Compare(b.Closed) })
	h.trim()
}

// Apply records what an audit at revision rev and time at opened and closed, and returns the
// episodes it opened, those it closed, and the closed ones it forgot to stay within its bound
// (a caller that stores the history deletes those). A finding opened that is open already
// keeps its episode, and one closed that is not open is ignored: both happen when the first
// audit after a restart reconciles with the restored history (Reconcile). A closed episode
// holds the finding as the delta closed it: the last one the audit saw.
func (h *History) Apply(d Delta, rev int64, at time.Time) (opened, closed, forgotten []Episode) {
	for _, f := range d.Closed {
		k := f.KeyDigest()
		e, ok := h.open[k]
		if !ok {
			continue
		}
		delete(h.open, k)
		ep := Episode{Finding: f, OpenedRevision: e.OpenedRevision, Opened: e.Opened, ClosedRevision: rev, Closed: at}
		h.closed = append(h.closed, ep)
		closed = append(closed, ep)
	}
	for _, f := range d.Opened {
		k := f.KeyDigest()
		if _, ok := h.open[k]; ok {
			continue
		}
		h.open[k] = openEpisode{OpenedRevision: rev, Opened: at}
		opened = append(opened, Episode{Finding: f, OpenedRevision: rev, Opened: at})
	}
	return opened, closed, h.trim()
}

// Reconcile is the delta that brings the history to findings, an audit's whole set: what
// is open that findings lack closes, what findings have that is not open opens. It is what a
// restarted server applies first, so that a finding open across the restart keeps its
// episode; its open episodes are then all restored ones (only they hold a finding to close
// with: an episode that Apply opened is the feeding audit's, which Reconcile never follows).
func (h *History) Reconcile(findings []Finding) Delta {
	var d Delta
	now := make(map[[sha256.Size]byte]bool, len(findings))
	for _, f := range findings {
		k := f.KeyDigest()
		now[k] = true
		if e, ok := h.open[k]; !ok {
			d.Opened = append(d.Opened, f)
		} else if e.restored != nil {
			e.restored = nil // the audit holds it now
			h.open[k] = e
		}
	}
	for k, e := range h.open {
		if !now[k] && e.restored != nil {
			d.Closed = append(d.Closed, *e.restored)
		}
	}
	slices.SortFunc(d.Closed, findingOrder)
	return d
}

// trim forgets the oldest closed episodes beyond the bound and returns them.
func (h *History) trim() []Episode {
	n := len(h.closed) - h.max
	if n <= 0 {
		return nil
	}
	gone := slices.Clone(h.closed[:n])
	h.closed = slices.Delete(h.closed, 0, n)
	return gone
}

// Episodes are the open episodes (by opening, oldest first) and the closed ones kept (by
// closing, oldest first). current are the findings of the audit whose delta was applied last
// (an Incremental's Report: its findings and the suppressed ones): an open episode's finding
// is current's of the same key, or else the one it was restored with. An episode with
// neither, which the audit that feeds the history never leaves, is not listed.
func (h *History) Episodes(current []Finding) (open, closed []Episode) {
	byKey := make(map[[sha256.Size]byte]*Finding, len(current))
	for i := range current {
		byKey[current[i].KeyDigest()] = &current[i]
	}
	for k, e := range h.open {
		f := byKey[k]
		if f == nil {
			f = e.restored
		}
		if f == nil {
			continue
		}
		open = append(open, Episode{Finding: *f, OpenedRevision: e.OpenedRevision, Opened: e.Opened})
	}
	slices.SortFunc(open, func(a, b Episode) int {
		if c := a.Opened.Compare(b.Opened); c != 0 {
			return c
		}
		return findingOrder(a.Finding, b.Finding)
	})
	return open, slices.Clone(h.closed)
}

// flapChecks are the checks whose findings are an internet exposure of a group (MON-003).
var flapChecks = []string{"SGA-001", "SGA-002", "SGA-003", "SGA-004", "SGA-005", "SGA-006", "SGA-007"}

// Flaps are the episodes of closed that are a flap (MON-003): an internet exposure of a
// group (SGA-001…007) opened and closed again within window.
func Flaps(closed []Episode, window time.Duration) []Episode {
	var out []Episode
	for _, e := range closed {
		if slices.Contains(flapChecks, e.Finding.Check) && !e.Closed.IsZero() && e.Closed.Sub(e.Opened) <= window {
			out = append(out, e)
		}
	}
	return out
}
