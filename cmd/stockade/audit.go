package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/audit"
	"github.com/stockade/stockade/snapshot"
)

// auditConfig is what `stockade audit` is told.
type auditConfig struct {
	Snapshot        string
	Flows           string
	DataDir         string
	Account, Region string
	All             bool
	Config          string
	JSON, SARIF     bool
	FailOn          string
	ListChecks      bool
	History         bool
}

func auditCmd() *cobra.Command {
	cfg := auditConfig{Region: defaultRegion()}
	var files strings.Builder
	for _, f := range slices.Concat(snapshot.Files, snapshot.ExtraFiles) {
		fmt.Fprintf(&files, "  %s > DIR/%s\n", f.Command, f.Name)
	}
	cmd := &cobra.Command{
		Use:   "audit [--snapshot DIR | --account A --region R | --all] [--config FILE] [--json | --sarif] [--fail-on SEVERITY]",
		Short: "Check an account's security groups, network ACLs, exposure and monitoring against the audit catalogue",
		Long: `Run every check of the audit catalogue (stockade audit --list-checks) and print each finding
with its check, severity, resource and rules, why, and the AWS CLI commands that fix it:
shell lines to run as printed and in order (AWS_ENDPOINT_URL points the AWS CLI at a Stockade
server), "<…>" a value only you know, quoted; a line starting with "#" is advice. docs/audit.md
has each check's exact semantics.

Without --snapshot the audit is of an account of the server running with --data-dir (read
through its admin socket): --account (name or ID; default the administrator's) in --region, or
with --all every account in every region the server serves. With --snapshot it is of a
directory of JSON files written by the AWS CLI against a real AWS account: the directory
` + "`stockade reach`" + ` reads, plus optionally the four files after describe-instances.json — flow
logs and launch templates for the flow-log and unused-group checks, and the EventBridge rules
whose patterns the change-alerting checks read (without a file, its checks are skipped, not
passed):

` + files.String() + `  aws ec2 get-managed-prefix-list-entries --prefix-list-id PL > DIR/get-managed-prefix-list-entries-PL.json

(the last once per customer-managed prefix list), and with --flows DIR the account's flow-log
files as ` + "`aws s3 cp --recursive s3://BUCKET/AWSLogs/ DIR`" + ` leaves them, for MON-005 (rules
that admitted no flow in unusedDays; a running server's records are read from its data
directory). Checks whose input is not known — the change trail of an export, alert rules of
a server run with --events=false or its trail with --trail=false, flow-log records of an
export without --flows — are listed as skipped.

--history prints what the running server's continuous audit (stockade server --audit) saw
of the account in the region: every finding open now, since which revision and time, and the
latest closed ones (--json for the JSON).

--config FILE is YAML: authorizedTCP, authorizedUDP, adminPorts, knownCIDRs, requiredTags,
nameRegex, maxRules, sprawlWarn, sprawlHigh, flapWindow, unusedDays, disabled, and suppressions (each with
check, optional resource, reason and expires).

Output is text grouped by severity, --json (the report; a list of reports with --all) or
--sarif (SARIF 2.1.0 for code scanning). Exit status: 0, or 1 when --fail-on is given and a
finding at or above that severity remains (suppressed ones do not count); 2 on any error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAudit(cmd, cfg) },
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Snapshot, "snapshot", "", "directory of AWS CLI JSON files (instead of a running server)")
	f.StringVar(&cfg.Flows, "flows", "", "with --snapshot: directory of the account's flow-log files (aws s3 cp --recursive s3://BUCKET/AWSLogs/ DIR), for MON-005")
	dataDirFlag(cmd, &cfg.DataDir, "data directory of the running server")
	f.StringVar(&cfg.Account, "account", "", "account name or ID on the running server (default: the administrator's)")
	f.StringVar(&cfg.Region, "region", cfg.Region, "region (default: $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1)")
	f.BoolVar(&cfg.All, "all", false, "every account in every region the running server serves")
	f.StringVar(&cfg.Config, "config", "", "YAML configuration: authorized and admin ports, tags, naming, thresholds, suppressions")
	f.BoolVar(&cfg.JSON, "json", false, "print the report as JSON")
	f.BoolVar(&cfg.SARIF, "sarif", false, "print the report as SARIF 2.1.0")
	f.StringVar(&cfg.FailOn, "fail-on", "", "exit 1 when a finding of this severity or worse remains: info, low, medium, high, critical")
	f.BoolVar(&cfg.ListChecks, "list-checks", false, "list the catalogue's checks and exit")
	f.BoolVar(&cfg.History, "history", false, "print the running server's continuous-audit history of the account and region: each finding's open and closed episodes, with their revisions and times")
	return cmd
}

func runAudit(cmd *cobra.Command, cfg auditConfig) error {
	out := cmd.OutOrStdout()
	if cfg.ListChecks {
		listChecks(out)
		return nil
	}
	if cfg.History {
		return auditHistoryCmd(cmd, cfg)
	}
	switch {
	case cfg.JSON && cfg.SARIF:
		return errors.New("give --json or --sarif, not both")
	case cfg.Snapshot != "" && (cfg.All || cmd.Flags().Changed("account")):
		return errors.New("--snapshot is one account's export: --account and --all are for a running server")
	case cfg.Flows != "" && cfg.Snapshot == "":
		return errors.New("--flows is for an export, with --snapshot: a running server's flow-log records are read from its data directory")
	case cfg.All && cmd.Flags().Changed("account"):
		return errors.New("give --account or --all, not both")
	}
	var failOn *audit.Severity
	if cfg.FailOn != "" {
		s, err := audit.ParseSeverity(cfg.FailOn)
		if err != nil {
			return fmt.Errorf("--fail-on: %w", err)
		}
		failOn = &s
	}
	conf := audit.DefaultConfig()
	if cfg.Config != "" {
		var err error
		if conf, err = audit.LoadConfig(cfg.Config); err != nil {
			return err
		}
	}
	var inputs []audit.Input
	var err error
	if cfg.Snapshot != "" {
		inputs, err = offlineInputs(cfg)
	} else {
		inputs, err = liveInputs(cmd, cfg)
	}
	if err != nil {
		return err
	}
	var reports []*audit.Report
	for _, in := range inputs {
		r, err := audit.Run(in, conf)
		if err != nil {
			return err
		}
		reports = append(reports, r)
	}
	switch {
	case cfg.SARIF:
		err = audit.WriteSARIF(out, reports...)
	case cfg.JSON && len(reports) == 1:
		err = reports[0].WriteJSON(out)
	case cfg.JSON:
		err = writeJSON(out, reports)
	default:
		for i, r := range reports {
			if i > 0 {
				fmt.Fprintln(out)
			}
			r.WriteText(out)
		}
	}
	if err != nil {
		return err
	}
	if failOn != nil {
		for _, r := range reports {
			if w, ok := r.Worst(); ok && w >= *failOn {
				return exitFindings
			}
		}
	}
	return nil
}

// exitFindings is `stockade audit --fail-on`'s status when a finding remains.
const exitFindings exitStatus = 1

// offlineInputs reads an export: the snapshot, its optional extra files, and the account
// from the VPCs' owner.
func offlineInputs(cfg auditConfig) ([]audit.Input, error) {
	snap, err := snapshot.Load(cfg.Snapshot)
	if err != nil {
		return nil, err
	}
	x, err := snapshot.LoadExtras(cfg.Snapshot)
	if err != nil {
		return nil, err
	}
	in := audit.Input{Region: cfg.Region, Snapshot: snap, FlowLogs: x.FlowLogs, LaunchTemplates: x.LaunchTemplates,
		LaunchTemplateVersions: x.LaunchTemplateVersions, AlertPatterns: x.AlertPatterns}
	if cfg.Flows != "" {
		if in.FlowRecords, err = readOfflineRecords(cfg.Flows); err != nil {
			return nil, err
		}
		in.FlowRecords = nonNil(in.FlowRecords)
	}
	for _, v := range snap.VPCs {
		if v.OwnerID != "" {
			in.Account = v.OwnerID
			break
		}
	}
	return []audit.Input{in}, nil
}

// liveInputs reads the running server's state of one account and region, or with --all of
// every account in every region it serves, with the alert rules' patterns (MON-001/002) and
// the day's rule changes from the trail (MON-003) when the server runs its bus and its trail;
// an input the server does not have skips its checks.
func liveInputs(cmd *cobra.Command, cfg auditConfig) ([]audit.Input, error) {
	c := adminapi.Dial(cfg.DataDir)
	ctx := cmd.Context()
	accounts, err := c.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	var which []adminapi.AccountInfo
	for _, a := range accounts {
		if cfg.All || a.ID == cfg.Account || a.Name == cfg.Account || cfg.Account == "" && a.Admin {
			which = append(which, a)
		}
	}
	if len(which) == 0 {
		return nil, fmt.Errorf("no account %q on the server", cfg.Account)
	}
	regions := []string{cfg.Region}
	if cfg.All {
		st, err := c.State(ctx, which[0].ID, cfg.Region)
		if err != nil && len(st.Regions) == 0 {
			return nil, err
		}
		regions = st.Regions
	}
	var out []audit.Input
	for _, a := range which {
		for _, region := range regions {
			st, err := c.State(ctx, a.ID, region)
			if err != nil {
				return nil, fmt.Errorf("account %s, region %s: %w", a.ID, region, err)
			}
			recs, err := liveRecords(cfg.DataDir, a.ID, region, st.FlowLogs)
			if err != nil {
				return nil, fmt.Errorf("account %s, region %s: %w", a.ID, region, err)
			}
			in := audit.Input{Account: a.ID, Region: region, Snapshot: st.Snapshot, Instances: nonNil(st.Instances),
				LaunchTemplates: nonNil(st.LaunchTemplates), LaunchTemplateVersions: nonNil(st.LaunchTemplateVersions), FlowLogs: nonNil(st.FlowLogs),
				AlertPatterns: st.AlertPatterns, FlowRecords: nonNil(recs)}
			if in.Changes, err = ruleChanges(st.RuleChangeRecords, audit.RuleChanges); err != nil { // null: the server runs without its trail
				return nil, fmt.Errorf("account %s, region %s: %w", a.ID, region, err)
			}
			out = append(out, in)
		}
	}
	return out, nil
}

// nonNil makes a list the server sent "known": JSON carries an empty list as null.
func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

// listChecks prints the catalogue: ID, severity, title and what a check needs beside the
// network.
func listChecks(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSEVERITY\tTITLE\tNEEDS")
	for _, c := range audit.Catalogue() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.Severity, c.Title, strings.Join(c.Needs, ", "))
	}
	tw.Flush()
}

// auditHistoryCmd prints the continuous audit's history of one account and region.
func auditHistoryCmd(cmd *cobra.Command, cfg auditConfig) error {
	switch {
	case cfg.Snapshot != "" || cfg.All || cfg.SARIF || cfg.FailOn != "" || cfg.Config != "":
		return errors.New("--history reads a running server's history of one account and region: not with --snapshot, --all, --sarif, --fail-on or --config")
	}
	js, err := adminapi.Dial(cfg.DataDir).AuditHistory(cmd.Context(), cfg.Account, cfg.Region)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if cfg.JSON {
		_, err := fmt.Fprintf(out, "%s\n", js)
		return err
	}
	var h auditHistory
	if err := json.Unmarshal(js, &h); err != nil {
		return fmt.Errorf("admin socket: unreadable history: %w", err)
	}
	fmt.Fprintf(out, "Continuous audit of account %s in %s: %d open, %d closed (latest kept)\n\n", h.Account, h.Region, len(h.Open), len(h.Closed))
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tOPENED (REVISION)\tCLOSED (REVISION)\tCHECK\tSEVERITY\tRESOURCE\tRULES")
	at := func(t time.Time, rev int64) string { return fmt.Sprintf("%s (%d)", t.UTC().Format(time.RFC3339), rev) }
	for _, e := range h.Open {
		fmt.Fprintf(tw, "OPEN\t%s\t-\t%s\t%s\t%s\t%s\n", at(e.Opened, e.OpenedRevision), e.Finding.Check, e.Finding.Severity, e.Finding.Resource, strings.Join(e.Finding.Rules, ","))
	}
	for _, e := range h.Closed {
		fmt.Fprintf(tw, "CLOSED\t%s\t%s\t%s\t%s\t%s\t%s\n", at(e.Opened, e.OpenedRevision), at(e.Closed, e.ClosedRevision), e.Finding.Check, e.Finding.Severity, e.Finding.Resource, strings.Join(e.Finding.Rules, ","))
	}
	return tw.Flush()
}
