package eventsapi

import (
	"context"

	"github.com/stockade/stockade/events"
)

// This file is one function per action, in botocore's member names.

type ruleRef struct {
	Name         *string
	EventBusName string
}

func (r ruleRef) check() error { return required(r.Name, "name") }

type ruleOut struct {
	Name         string
	Arn          string
	EventPattern string
	State        string
	Description  string `json:",omitempty"`
	EventBusName string
	CreatedBy    string `json:",omitempty"`
}

func ruleOf(sc events.Scope, r events.Rule) ruleOut {
	return ruleOut{Name: r.Name, Arn: events.RuleARN(sc, r.Name), EventPattern: r.Pattern, State: r.State,
		Description: r.Description, EventBusName: events.DefaultBus}
}

func putRule(a *API, ctx context.Context, sc events.Scope, body []byte) (any, error) {
	var in struct {
		Name                                                               *string
		EventPattern, State, Description, EventBusName, ScheduleExpression string
		RoleArn                                                            string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required(in.Name, "name"); err != nil {
		return nil, err
	}
	arn, err := a.svc.PutRule(ctx, sc, events.RuleInput{Name: *in.Name, Pattern: in.EventPattern, State: in.State,
		Description: in.Description, Bus: in.EventBusName, Schedule: in.ScheduleExpression})
	if err != nil {
		return nil, err
	}
	return struct{ RuleArn string }{arn}, nil
}

func describeRule(a *API, _ context.Context, sc events.Scope, body []byte) (any, error) {
	var in ruleRef
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	r, err := a.svc.DescribeRule(sc, *in.Name, in.EventBusName)
	if err != nil {
		return nil, err
	}
	out := ruleOf(sc, r)
	out.CreatedBy = sc.Account
	return out, nil
}

type listIn struct {
	NamePrefix, EventBusName, NextToken, ConnectionArn string
	Limit                                              int
}

func listRules(a *API, _ context.Context, sc events.Scope, body []byte) (any, error) {
	var in listIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	rules, next, err := a.svc.ListRules(sc, in.NamePrefix, in.EventBusName, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		Rules     []ruleOut
		NextToken string `json:",omitempty"`
	}{Rules: []ruleOut{}, NextToken: next}
	for _, r := range rules {
		out.Rules = append(out.Rules, ruleOf(sc, r))
	}
	return out, nil
}

func deleteRule(a *API, ctx context.Context, sc events.Scope, body []byte) (any, error) {
	var in ruleRef
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	return struct{}{}, a.svc.DeleteRule(ctx, sc, *in.Name, in.EventBusName)
}

func setState(state string) handler {
	return func(a *API, ctx context.Context, sc events.Scope, body []byte) (any, error) {
		var in ruleRef
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if err := in.check(); err != nil {
			return nil, err
		}
		return struct{}{}, a.svc.SetRuleState(ctx, sc, *in.Name, in.EventBusName, state)
	}
}

var (
	enableRule  = setState(events.Enabled)
	disableRule = setState(events.Disabled)
)

type failedOut struct {
	FailedEntryCount int
	FailedEntries    []failedEntry
}

type failedEntry struct{ TargetId, ErrorCode, ErrorMessage string }

func failedOf(f []events.FailedEntry) failedOut {
	out := failedOut{FailedEntryCount: len(f), FailedEntries: []failedEntry{}}
	for _, e := range f {
		out.FailedEntries = append(out.FailedEntries, failedEntry{e.TargetID, e.Code, e.Message})
	}
	return out
}

func putTargets(a *API, ctx context.Context, sc events.Scope, body []byte) (any, error) {
	var in struct {
		Rule         *string
		EventBusName string
		Targets      []struct{ Id, Arn *string }
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required(in.Rule, "rule"); err != nil {
		return nil, err
	}
	var targets []events.Target
	for _, t := range in.Targets {
		if err := required(t.Id, "targets.member.id"); err != nil {
			return nil, err
		}
		if err := required(t.Arn, "targets.member.arn"); err != nil {
			return nil, err
		}
		targets = append(targets, events.Target{ID: *t.Id, ARN: *t.Arn})
	}
	failed, err := a.svc.PutTargets(ctx, sc, *in.Rule, in.EventBusName, targets)
	if err != nil {
		return nil, err
	}
	return failedOf(failed), nil
}

func removeTargets(a *API, ctx context.Context, sc events.Scope, body []byte) (any, error) {
	var in struct {
		Rule         *string
		EventBusName string
		Ids          []string
		Force        bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required(in.Rule, "rule"); err != nil {
		return nil, err
	}
	failed, err := a.svc.RemoveTargets(ctx, sc, *in.Rule, in.EventBusName, in.Ids)
	if err != nil {
		return nil, err
	}
	return failedOf(failed), nil
}

func listTargets(a *API, _ context.Context, sc events.Scope, body []byte) (any, error) {
	var in struct {
		Rule                    *string
		EventBusName, NextToken string
		Limit                   int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required(in.Rule, "rule"); err != nil {
		return nil, err
	}
	ts, next, err := a.svc.ListTargets(sc, *in.Rule, in.EventBusName, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	type target struct{ Id, Arn string }
	out := struct {
		Targets   []target
		NextToken string `json:",omitempty"`
	}{Targets: []target{}, NextToken: next}
	for _, t := range ts {
		out.Targets = append(out.Targets, target{t.ID, t.ARN})
	}
	return out, nil
}

func testEventPattern(_ *API, _ context.Context, _ events.Scope, body []byte) (any, error) {
	var in struct{ EventPattern, Event *string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required(in.EventPattern, "eventPattern"); err != nil {
		return nil, err
	}
	if err := required(in.Event, "event"); err != nil {
		return nil, err
	}
	ok, err := events.TestPattern(*in.EventPattern, *in.Event)
	if err != nil {
		return nil, err
	}
	return struct{ Result bool }{ok}, nil
}
