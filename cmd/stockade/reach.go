package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/reach"
	"github.com/stockade/stockade/snapshot"
)

// reachConfig is what `stockade reach` is told.
type reachConfig struct {
	Snapshot        string
	DataDir         string
	Account, Region string
	From, To        string
	Exposed         bool
	q               reach.Question
	JSON            bool
}

func reachCmd() *cobra.Command {
	cfg := reachConfig{Region: defaultRegion(), q: reach.Question{Protocol: "tcp"}}
	cmd := &cobra.Command{
		Use:   "reach (--from A --to B | --to B | --from A | --exposed) [--snapshot DIR]",
		Short: "Answer reachability questions for a running server's account or a snapshot of a real AWS account",
		Long: `Answer the three reachability questions, exactly (no sampling), from the security groups,
network ACLs and prefix lists:

  --from A --to B --protocol tcp --port 5432   can A reach B, and why? Every blocker on the way
                                               there and back, and the AWS CLI commands that
                                               would flip the answer.
  --to B                                       what can reach B? (its effective ingress)
  --from A                                     what can A reach? (its effective egress)
  --exposed                                    what does the internet reach, through which public address?

A and B are interface IDs (eni-…), instance IDs (i-…) or IP addresses; an address that is no
interface's is outside the VPCs (the internet).

Without --snapshot the question is about an account of the server running with --data-dir
(read through its admin socket). With --snapshot it is about a directory of JSON files written
by the AWS CLI against a real AWS account:

  aws ec2 describe-vpcs > DIR/describe-vpcs.json
  aws ec2 describe-subnets > DIR/describe-subnets.json
  aws ec2 describe-security-groups > DIR/describe-security-groups.json
  aws ec2 describe-security-group-rules > DIR/describe-security-group-rules.json
  aws ec2 describe-network-interfaces > DIR/describe-network-interfaces.json
  aws ec2 describe-network-acls > DIR/describe-network-acls.json
  aws ec2 describe-managed-prefix-lists > DIR/describe-managed-prefix-lists.json
  aws ec2 describe-route-tables > DIR/describe-route-tables.json
  aws ec2 describe-internet-gateways > DIR/describe-internet-gateways.json
  aws ec2 describe-egress-only-internet-gateways > DIR/describe-egress-only-internet-gateways.json
  aws ec2 describe-addresses > DIR/describe-addresses.json
  aws ec2 describe-nat-gateways > DIR/describe-nat-gateways.json
  aws ec2 describe-instances > DIR/describe-instances.json
  aws ec2 get-managed-prefix-list-entries --prefix-list-id PL > DIR/get-managed-prefix-list-entries-PL.json

(the last once per customer-managed prefix list). Every file is required; a missing file or
field is an error naming the file and the field's JSON path, never a different answer.

Exit status: 0 when the answer is REACHABLE (and for --to, --from and --exposed, which list
rather than decide), 1 when it is NOT REACHABLE, 2 on any error (bad usage, an incomplete
snapshot, no server). --port is required with tcp and udp.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReach(cmd, cfg) },
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Snapshot, "snapshot", "", "directory of AWS CLI JSON files (instead of a running server)")
	dataDirFlag(cmd, &cfg.DataDir, "data directory of the running server")
	f.StringVar(&cfg.Account, "account", "", "account name or ID on the running server (default: the administrator's)")
	f.StringVar(&cfg.Region, "region", cfg.Region, "region on the running server (default: $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1)")
	f.StringVar(&cfg.From, "from", "", "source: interface ID, instance ID or IP address")
	f.StringVar(&cfg.To, "to", "", "destination: interface ID, instance ID or IP address")
	f.BoolVar(&cfg.Exposed, "exposed", false, "list what the internet reaches through internet gateways, per interface")
	f.StringVar(&cfg.q.Protocol, "protocol", cfg.q.Protocol, "tcp, udp, icmp, icmpv6 or a protocol number")
	f.Uint16Var(&cfg.q.Port, "port", 0, "destination port (tcp, udp)")
	f.Uint16Var(&cfg.q.SourcePort, "source-port", reach.DefaultSourcePort, "client port the replies go back to (tcp, udp)")
	f.Uint8Var(&cfg.q.ICMPType, "icmp-type", 8, "ICMP type (icmp, icmpv6)")
	f.Uint8Var(&cfg.q.ICMPCode, "icmp-code", 0, "ICMP code (icmp, icmpv6)")
	f.BoolVar(&cfg.JSON, "json", false, "print the answer as JSON")
	return cmd
}

func runReach(cmd *cobra.Command, cfg reachConfig) error {
	if cfg.Exposed == (cfg.From != "" || cfg.To != "") {
		return errors.New("ask one question: --from and --to, --to alone, --from alone, or --exposed")
	}
	if cfg.From != "" && cfg.To != "" && !cmd.Flags().Changed("port") {
		if p, _ := model.NormalizeProtocol(cfg.q.Protocol); p == model.ProtoTCP || p == model.ProtoUDP {
			return fmt.Errorf("--port is required with --protocol %s (the destination port to ask about)", cfg.q.Protocol)
		}
	}
	var snap netmap.Snapshot
	var err error
	if cfg.Snapshot != "" {
		snap, err = snapshot.Load(cfg.Snapshot)
	} else {
		snap, err = adminapi.Dial(cfg.DataDir).Snapshot(cmd.Context(), cfg.Account, cfg.Region)
	}
	if err != nil {
		return err
	}
	a, err := reach.New(snap)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch {
	case cfg.Exposed:
		exp, err := a.Exposure()
		if err != nil {
			return err
		}
		if cfg.JSON {
			return writeJSON(out, exp)
		}
		if len(exp) == 0 {
			fmt.Fprintln(out, "nothing is reachable from the internet")
		} else {
			fmt.Fprintln(out, "from the internet:")
		}
		for _, e := range exp {
			e.WriteText(out)
		}
		return nil
	case cfg.From != "" && cfg.To != "":
		cfg.q.From, cfg.q.To = cfg.From, cfg.To
		ans, err := a.Path(cfg.q)
		if err != nil {
			return err
		}
		if cfg.JSON {
			if err := writeJSON(out, ans); err != nil || ans.Reachable {
				return err
			}
			return exitNotReachable
		}
		ans.WriteText(out)
		if !ans.Reachable {
			return exitNotReachable
		}
		return nil
	}
	target, egress := cfg.To, false
	if cfg.From != "" {
		target, egress = cfg.From, true
	}
	acc, err := a.Access(target, egress)
	if err != nil {
		return err
	}
	if cfg.JSON {
		return writeJSON(out, acc)
	}
	acc.WriteText(out)
	return nil
}

// defaultRegion is the region the AWS CLI would use: $AWS_REGION, else $AWS_DEFAULT_REGION
// (which the README exports), else us-east-1.
func defaultRegion() string {
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if r := os.Getenv(v); r != "" {
			return r
		}
	}
	return "us-east-1"
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
