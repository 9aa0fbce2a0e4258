package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/policy"
	"github.com/stockade/stockade/snapshot"
)

// reachConfig is what `stockade reach` is told.
type reachConfig struct {
	Snapshot           string
	From, To           string
	Protocol           string
	Port               uint16
	ICMPType, ICMPCode uint8
	JSON               bool
}

func reachCmd() *cobra.Command {
	cfg := reachConfig{Protocol: "tcp"}
	cmd := &cobra.Command{
		Use:   "reach --snapshot DIR --from A --to B [--protocol tcp --port N]",
		Short: "Answer \"can A reach B, and why\" for a snapshot of a real AWS account",
		Long: `Answer whether traffic from A can reach B, and why: the security-group rules that admit
it at each end and the network ACL entries at each subnet boundary, or what blocks it.

A and B are network interface IDs (eni-…) or IP addresses; an address of an interface in the
snapshot stands for that interface, any other address is outside the VPCs (the internet).
The snapshot is a directory of JSON files written by the AWS CLI:

  aws ec2 describe-vpcs > DIR/describe-vpcs.json
  aws ec2 describe-subnets > DIR/describe-subnets.json
  aws ec2 describe-security-groups > DIR/describe-security-groups.json
  aws ec2 describe-security-group-rules > DIR/describe-security-group-rules.json
  aws ec2 describe-network-interfaces > DIR/describe-network-interfaces.json
  aws ec2 describe-network-acls > DIR/describe-network-acls.json
  aws ec2 describe-managed-prefix-lists > DIR/describe-managed-prefix-lists.json
  aws ec2 get-managed-prefix-list-entries --prefix-list-id PL > DIR/get-managed-prefix-list-entries-PL.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReach(cmd, cfg) },
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Snapshot, "snapshot", "", "directory of AWS CLI JSON files (required)")
	f.StringVar(&cfg.From, "from", "", "source: interface ID or IP address (required)")
	f.StringVar(&cfg.To, "to", "", "destination: interface ID or IP address (required)")
	f.StringVar(&cfg.Protocol, "protocol", cfg.Protocol, "tcp, udp, icmp, icmpv6 or a protocol number")
	f.Uint16Var(&cfg.Port, "port", 0, "destination port (tcp, udp)")
	f.Uint8Var(&cfg.ICMPType, "icmp-type", 8, "ICMP type (icmp, icmpv6)")
	f.Uint8Var(&cfg.ICMPCode, "icmp-code", 0, "ICMP code (icmp, icmpv6)")
	f.BoolVar(&cfg.JSON, "json", false, "print the answer as JSON")
	for _, name := range []string{"snapshot", "from", "to"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runReach(cmd *cobra.Command, cfg reachConfig) error {
	proto, err := model.NormalizeProtocol(cfg.Protocol)
	if err != nil || proto == model.ProtoAll {
		return fmt.Errorf("--protocol %q: give tcp, udp, icmp, icmpv6 or a protocol number", cfg.Protocol)
	}
	snap, err := snapshot.Load(cfg.Snapshot)
	if err != nil {
		return err
	}
	p, err := policy.Compile(snap)
	if err != nil {
		return err
	}
	src, sa, err := endpoint(snap, cfg.From, "--from")
	if err != nil {
		return err
	}
	dst, da, err := endpoint(snap, cfg.To, "--to")
	if err != nil {
		return err
	}
	if sa.Is4() != da.Is4() {
		return fmt.Errorf("--from %s and --to %s are of different address families", sa, da)
	}
	f := policy.Flow{Src: sa, Dst: da, Proto: uint8(model.ProtocolNumber(proto)), SrcPort: 49152, DstPort: cfg.Port}
	if f.Proto == policy.ProtoICMP || f.Proto == policy.ProtoICMPv6 {
		f.ICMPType, f.ICMPCode, f.DstPort = cfg.ICMPType, cfg.ICMPCode, 0
	}
	ex := p.Explain(src, dst, f)
	out := cmd.OutOrStdout()
	if cfg.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Allowed  bool   `json:"allowed"`
			From     string `json:"from"`
			To       string `json:"to"`
			Protocol string `json:"protocol"`
			Port     uint16 `json:"port,omitempty"`
			policy.Explanation
		}{ex.Allowed(), sa.String(), da.String(), proto, f.DstPort, ex})
	}
	verdict := "REACHABLE"
	if !ex.Allowed() {
		verdict = "NOT REACHABLE: blocked at " + ex.Decision.String()
	}
	fmt.Fprintf(out, "%s → %s %s/%d: %s\n", describe(src, sa), describe(dst, da), proto, f.DstPort, verdict)
	if len(ex.EgressRules) > 0 {
		fmt.Fprintf(out, "  source egress allowed by: %s\n", rules(ex.EgressRules))
	}
	if ex.SourceNACL != nil {
		fmt.Fprintf(out, "  source subnet NACL %s: rule %d %s\n", ex.SourceNACL.ACLID, ex.SourceNACL.RuleNumber, allow(ex.SourceNACL.Allow))
	}
	if ex.DestNACL != nil {
		fmt.Fprintf(out, "  destination subnet NACL %s: rule %d %s\n", ex.DestNACL.ACLID, ex.DestNACL.RuleNumber, allow(ex.DestNACL.Allow))
	}
	if len(ex.IngressRules) > 0 {
		fmt.Fprintf(out, "  destination ingress allowed by: %s\n", rules(ex.IngressRules))
	}
	return nil
}

// endpoint resolves an interface ID or an address.
func endpoint(s policy.Snapshot, v, flag string) (policy.Endpoint, netip.Addr, error) {
	if strings.HasPrefix(v, "eni-") {
		for _, n := range s.ENIs {
			if n.ID == v {
				return policy.Endpoint{ENI: n.ID}, n.PrivateIP, nil
			}
		}
		return policy.Endpoint{}, netip.Addr{}, fmt.Errorf("%s %s: no such interface in the snapshot", flag, v)
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return policy.Endpoint{}, netip.Addr{}, fmt.Errorf("%s %q: give an interface ID (eni-…) or an IP address", flag, v)
	}
	var found []string
	for _, n := range s.ENIs {
		for _, x := range n.Addrs() {
			if x == a {
				found = append(found, n.ID)
			}
		}
	}
	switch len(found) {
	case 0:
		return policy.Outside, a, nil
	case 1:
		return policy.Endpoint{ENI: found[0]}, a, nil
	}
	return policy.Endpoint{}, netip.Addr{}, fmt.Errorf("%s %s belongs to several interfaces (%s) in different VPCs: name the interface", flag, a, strings.Join(found, ", "))
}

func describe(e policy.Endpoint, a netip.Addr) string {
	if e.ENI == "" {
		return a.String() + " (outside)"
	}
	return e.ENI + " (" + a.String() + ")"
}

func rules(rs []policy.RuleRef) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.GroupID+" "+r.RuleID)
	}
	return strings.Join(s, ", ")
}

func allow(b bool) string {
	if b {
		return "allows"
	}
	return "denies"
}
