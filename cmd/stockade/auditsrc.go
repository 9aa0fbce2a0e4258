package main

import (
	"encoding/json"
	"time"

	"github.com/stockade/stockade/audit"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/events"
	"github.com/stockade/stockade/model"
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
	changes, err = s.changes(account, region, now)
	return s.patterns(account, region), changes, err
}

// patterns are the enabled rules' patterns (in memory: cheap), nil without the bus.
func (s auditSources) patterns(account, region string) []json.RawMessage {
	if s.events == nil {
		return nil
	}
	return s.events.EnabledPatterns(events.Scope{Account: account, Region: region})
}

// changes are the trail's rule-change records of the day before now (read from the trail's
// log on disk), nil without the trail.
func (s auditSources) changes(account, region string, now time.Time) ([]json.RawMessage, error) {
	if s.trail == nil {
		return nil, nil
	}
	changes, err := s.trail.Events(account, region, audit.RuleChangeEvents, now.Add(-changesWindow), now)
	if err != nil {
		return nil, err
	}
	if changes == nil {
		changes = []json.RawMessage{}
	}
	return changes, nil
}

// auditExtras are what the auditor reads of a tenant beside its network: the instances, the
// launch templates with every version, and the flow logs; never nil (an auditor tells "none"
// from "not known").
func auditExtras(v control.View) ([]*model.Instance, []*model.LaunchTemplate, []*model.LaunchTemplateVersion, []*model.FlowLog) {
	lts := append([]*model.LaunchTemplate{}, v.LaunchTemplates()...)
	versions := []*model.LaunchTemplateVersion{}
	for _, lt := range lts {
		versions = append(versions, v.LaunchTemplateVersions(lt)...)
	}
	return append([]*model.Instance{}, v.Instances()...), lts, versions, append([]*model.FlowLog{}, v.FlowLogs()...)
}

// ruleChanges reads the trail's rule-change records with read (audit.RuleChanges or
// audit.FlapChanges): nil, not known, when records is nil (a server without its trail), else
// never nil.
func ruleChanges(records []json.RawMessage, read func([]json.RawMessage) ([]audit.RuleChange, error)) ([]audit.RuleChange, error) {
	if records == nil {
		return nil, nil
	}
	cs, err := read(records)
	if cs == nil && err == nil {
		cs = []audit.RuleChange{}
	}
	return cs, err
}
