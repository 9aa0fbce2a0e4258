package main

import (
	"encoding/json"
	"time"

	"github.com/stockade/stockade/audit"
	"github.com/stockade/stockade/events"
	"github.com/stockade/stockade/trail"
)

// changesWindow is how far back the auditor reads rule changes: MON-003 looks at the day
// before the audit (audit-checks §2.1: "repeatedly opened/closed within a day").
const changesWindow = 24 * time.Hour

// auditSources are where the server finds what the monitoring checks read beside the
// network: the bus's alert rules (MON-001/002) and the trail's rule changes (MON-003). A nil
// source is one the server runs without (--events=false, --trail=false): its checks are
// skipped, not passed.
type auditSources struct {
	events *events.Service
	trail  *trail.Log
}

// read returns the enabled rules' patterns and the rule-change records of the day before
// now, each nil when its source is off.
func (s auditSources) read(account, region string, now time.Time) (patterns, changes []json.RawMessage, err error) {
	if s.events != nil {
		patterns = s.events.EnabledPatterns(events.Scope{Account: account, Region: region})
	}
	if s.trail != nil {
		if changes, err = s.trail.Events(account, region, audit.RuleChangeEvents, now.Add(-changesWindow), now); err != nil {
			return nil, nil, err
		}
		if changes == nil {
			changes = []json.RawMessage{}
		}
	}
	return patterns, changes, nil
}
