package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stockade/stockade/flows"
	"github.com/stockade/stockade/snapshot"
)

// flowsConfig is what `stockade flows` is told.
type flowsConfig struct {
	src          flowSource
	Since, Until string
	JSON         bool
}

func flowsCmd() *cobra.Command {
	cfg := &flowsConfig{src: flowSource{Region: defaultRegion()}}
	cmd := &cobra.Command{
		Use:   "flows top|rejected|rules|impact",
		Short: "Analyse a flow log's records: top talkers, rejected attempts, rules used and unused, the impact of a change",
		Long: `Read the records of an account's flow logs and answer what AWS's tools do not:

  top        bytes and packets by source address, address pair, interface or port
  rejected   rejected inbound attempts by port, source and interface, admin ports first
  rules      for every security-group rule, the opening flows it admitted (through the
             policy compiler, under the policy in force when each flow started): used,
             unused, or unknown when none of its interfaces has a flow log of accepted traffic;
             a rule revoked since is listed when it admitted flows of the period
  impact     the flows of the period a proposed change would have refused:
             --revoke sgr-…, --delete-nacl-entry acl-…/ingress/100, --deny-nacl-entry …

Without --records the records are those of the server running with --data-dir: every flow
log of --account in --region, from its S3 bucket or its CloudWatch Logs group. With
--records DIR they are the files under DIR, as ` + "`aws s3 cp --recursive s3://BUCKET/AWSLogs/ DIR`" + `
leaves them (default or custom format: each file's header names its fields); rules and
impact then need --snapshot DIR, the AWS CLI export ` + "`stockade reach`" + ` reads (with
describe-flow-logs.json, rules also tells unused from unknown by the flow logs' coverage).
On a running server, each record is explained by the rules in force when it started: the
current network rewound over the security-group rule changes of the server's change trail
(interfaces, attachments and network ACLs are taken as they are now). An export has one
network, the snapshot's.

--since and --until bound the period by each record's start: an RFC 3339 time, or a
duration back from now (90m, 24h, 7d).`,
	}
	pf := cmd.PersistentFlags()
	dataDirFlag(cmd, &cfg.src.DataDir, "data directory of the running server")
	pf.StringVar(&cfg.src.Account, "account", "", "account name or ID on the running server (default: the administrator's)")
	pf.StringVar(&cfg.src.Region, "region", cfg.src.Region, "region (default: $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1)")
	pf.StringVar(&cfg.src.Records, "records", "", "directory of downloaded flow-log files (instead of a running server)")
	pf.StringVar(&cfg.src.Snapshot, "snapshot", "", "directory of AWS CLI JSON files: the network the records are about")
	pf.StringVar(&cfg.Since, "since", "", "first record start: RFC 3339 time or duration back from now (24h, 7d)")
	pf.StringVar(&cfg.Until, "until", "", "records starting before: RFC 3339 time or duration back from now")
	pf.BoolVar(&cfg.JSON, "json", false, "print JSON")
	cmd.AddCommand(flowsTopCmd(cfg), flowsRejectedCmd(cfg), flowsRulesCmd(cfg), flowsImpactCmd(cfg))
	return cmd
}

// parseWhen reads --since/--until: an RFC 3339 time, or a duration (d for days) before now.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("--%s %q: give an RFC 3339 time or a duration such as 24h or 7d", flag, v)
	}
	return now.Add(-d), nil
}

// load reads the records and the network and bounds the period.
func (cfg *flowsConfig) load(cmd *cobra.Command, needSnapshot bool) (*flows.Data, flows.Period, error) {
	now := time.Now()
	var p flows.Period
	var err error
	if p.Since, err = parseWhen("since", cfg.Since, now); err != nil {
		return nil, p, err
	}
	if p.Until, err = parseWhen("until", cfg.Until, now); err != nil {
		return nil, p, err
	}
	in, err := cfg.src.read(cmd.Context(), needSnapshot)
	if err != nil {
		return nil, p, err
	}
	d := &flows.Data{Records: in.Records, FlowLogs: in.FlowLogs}
	switch {
	case in.Live && len(in.Records) > 0:
		// The policy in force when each record started: the current network rewound over
		// the trail's rule changes since the period's first record (flowstrail.go).
		from := p.Since
		if from.IsZero() { // the period opens with its first record
			from = time.Unix(slices.MinFunc(in.Records, func(a, b flows.Record) int { return cmp.Compare(a.Start, b.Start) }).Start, 0)
		}
		changes, notes, err := trailChanges(in.DataDir, in.Account, cfg.src.Region, in.Trail, from)
		if err != nil {
			return nil, p, err
		}
		for _, n := range notes {
			fmt.Fprintln(cmd.ErrOrStderr(), "stockade flows: note:", n)
		}
		if d.Timeline, err = flows.Rewind(in.Snapshot, changes); err != nil {
			return nil, p, err
		}
	case in.Network:
		if d.Timeline, err = flows.Single(in.Snapshot); err != nil {
			return nil, p, err
		}
	}
	return d, p, nil
}

// loadExport reads an AWS CLI export into in: the network and, when the export has it, the
// flow logs.
func loadExport(dir string, in *flowInput) error {
	snap, err := snapshot.Load(dir)
	if err != nil {
		return err
	}
	x, err := snapshot.LoadExtras(dir)
	if err != nil {
		return err
	}
	in.Snapshot, in.FlowLogs, in.Network = snap, x.FlowLogs, true
	return nil
}

func flowsTopCmd(cfg *flowsConfig) *cobra.Command {
	by, n := "addr", 10
	cmd := &cobra.Command{
		Use:   "top [--by addr|pair|eni|port] [-n N]",
		Short: "Top talkers: bytes and packets by source address, address pair, interface or port",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, p, err := cfg.load(cmd, false)
			if err != nil {
				return err
			}
			top, err := flows.Top(d.Select(p), by, n)
			if err != nil {
				return err
			}
			return cfg.print(cmd.OutOrStdout(), top, func(tw io.Writer) {
				fmt.Fprintf(tw, "%s\tBYTES\tPACKETS\tRECORDS\n", strings.ToUpper(by))
				for _, t := range top {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", t.Key, t.Bytes, t.Packets, t.Records)
				}
			})
		},
	}
	cmd.Flags().StringVar(&by, "by", by, "group by: addr (source address), pair, eni, port")
	cmd.Flags().IntVarP(&n, "top", "n", n, "how many (0: all)")
	return cmd
}

func flowsRejectedCmd(cfg *flowsConfig) *cobra.Command {
	admin := make([]uint, 0, len(flows.DefaultAdminPorts))
	for _, p := range flows.DefaultAdminPorts {
		admin = append(admin, uint(p))
	}
	var threshold uint64 = 1
	cmd := &cobra.Command{
		Use:   "rejected [--admin-ports 22,3389,…] [--threshold N]",
		Short: "Rejected inbound attempts by port, source and interface, admin ports first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ports := make([]uint16, 0, len(admin))
			for _, p := range admin {
				if p > 65535 {
					return fmt.Errorf("--admin-ports: %d is not a port", p)
				}
				ports = append(ports, uint16(p))
			}
			d, p, err := cfg.load(cmd, false)
			if err != nil {
				return err
			}
			rej := flows.Rejected(d.Select(p), ports, threshold)
			return cfg.print(cmd.OutOrStdout(), rej, func(tw io.Writer) {
				fmt.Fprintln(tw, "PORT\tSOURCE\tINTERFACE\tPACKETS\tRECORDS\tFIRST\tLAST\tADMIN")
				for _, a := range rej {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", a.Port, a.Source, a.Interface, a.Packets, a.Records,
						unix(a.First), unix(a.Last), yes(a.Admin))
				}
			})
		},
	}
	cmd.Flags().UintSliceVar(&admin, "admin-ports", admin, "TCP ports listed first")
	cmd.Flags().Uint64Var(&threshold, "threshold", threshold, "list a port, source and interface from this many rejected packets")
	return cmd
}

func flowsRulesCmd(cfg *flowsConfig) *cobra.Command {
	var unusedOnly bool
	cmd := &cobra.Command{
		Use:   "rules [--unused]",
		Short: "For every security-group rule, the opening flows it admitted: used, unused or unknown",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, p, err := cfg.load(cmd, true)
			if err != nil {
				return err
			}
			uses := d.Rules(p)
			if unusedOnly {
				keep := []flows.RuleUse{}
				for _, u := range uses {
					if u.Status == "unused" {
						keep = append(keep, u)
					}
				}
				uses = keep
			}
			return cfg.print(cmd.OutOrStdout(), uses, func(tw io.Writer) {
				fmt.Fprintln(tw, "GROUP\tRULE\tDIRECTION\tSTATUS\tFLOWS\tPACKETS\tBYTES\tLAST USED\tWHAT")
				for _, u := range uses {
					dir := "ingress"
					if u.Egress {
						dir = "egress"
					}
					last := "-"
					if u.LastUsed != 0 {
						last = unix(u.LastUsed)
					}
					status := u.Status
					if u.Removed != 0 {
						status += " (removed " + unix(u.Removed) + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", u.GroupID, u.RuleID, dir, status, u.Flows, u.Packets, u.Bytes, last, u.Rule)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&unusedOnly, "unused", false, "list only the unused rules")
	return cmd
}

func flowsImpactCmd(cfg *flowsConfig) *cobra.Command {
	var c flows.Change
	cmd := &cobra.Command{
		Use:   "impact (--revoke sgr-… | --delete-nacl-entry acl-…/ingress/N | --deny-nacl-entry acl-…/egress/N)…",
		Short: "The flows of the period a proposed change would have refused",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(c.Revoke)+len(c.DeleteNACL)+len(c.DenyNACL) == 0 {
				return fmt.Errorf("give the change: --revoke, --delete-nacl-entry or --deny-nacl-entry")
			}
			d, p, err := cfg.load(cmd, true)
			if err != nil {
				return err
			}
			ref, err := d.Impact(p, c)
			if err != nil {
				return err
			}
			return cfg.print(cmd.OutOrStdout(), ref, func(tw io.Writer) {
				if len(ref) == 0 {
					fmt.Fprintln(tw, "no flow of the period would have been refused")
					return
				}
				fmt.Fprintln(tw, "SOURCE\tDESTINATION\tPROTOCOL\tPACKETS\tBYTES\tFIRST\tLAST\tREFUSED AT")
				for _, r := range ref {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", r.Src, r.Dst, r.Proto, r.Packets, r.Bytes, unix(r.First), unix(r.Last), r.At)
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&c.Revoke, "revoke", nil, "security-group rule to revoke (repeatable)")
	f.StringSliceVar(&c.DeleteNACL, "delete-nacl-entry", nil, "network ACL entry to delete, acl-…/ingress/N or acl-…/egress/N (repeatable)")
	f.StringSliceVar(&c.DenyNACL, "deny-nacl-entry", nil, "network ACL entry to turn into a deny (repeatable)")
	return cmd
}

// print writes v as JSON, or as the table text writes.
func (cfg *flowsConfig) print(w io.Writer, v any, text func(io.Writer)) error {
	if cfg.JSON {
		return writeJSON(w, v)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	text(tw)
	return tw.Flush()
}

func unix(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}
