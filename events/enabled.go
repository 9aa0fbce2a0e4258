package events

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
)

// EnabledPatterns are the event patterns of the enabled rules of sc's bus (ENABLED or
// ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS), by rule name: what the auditor asks when it
// checks that changes are alerted on (MON-001/002). Never nil: a bus without rules has none.
func (s *Service) EnabledPatterns(sc Scope) []json.RawMessage {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var rules []*Rule
	for _, r := range s.view(sc).rules {
		if strings.HasPrefix(r.State, Enabled) {
			rules = append(rules, r)
		}
	}
	slices.SortFunc(rules, func(a, b *Rule) int { return cmp.Compare(a.Name, b.Name) })
	out := []json.RawMessage{}
	for _, r := range rules {
		out = append(out, json.RawMessage(r.Pattern))
	}
	return out
}
