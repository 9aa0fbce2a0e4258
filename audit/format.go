package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// The report's three outputs: text for people, JSON (the Report as it is) for scripts, and
// SARIF 2.1.0 for code-scanning tools (GitHub code scanning, Azure DevOps, SonarQube…).

// WriteText prints the findings grouped by severity, worst first: each with its check,
// resource, rules, why and fix commands; then the skipped checks and the suppressed findings.
func (r *Report) WriteText(w io.Writer) {
	scope := strings.Trim(r.Account+" "+r.Region, " ")
	if scope != "" {
		scope = " of " + scope
	}
	fmt.Fprintf(w, "audit%s: %d checks, %d findings", scope, r.Checks, len(r.Findings))
	if len(r.Suppressed) > 0 {
		fmt.Fprintf(w, ", %d suppressed", len(r.Suppressed))
	}
	fmt.Fprintln(w)
	for s := Critical; s >= Info; s-- {
		var fs []Finding
		for _, f := range r.Findings {
			if f.Severity == s {
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%d)\n", strings.ToUpper(s.String()), len(fs))
		for _, f := range fs {
			where := f.Resource
			if f.VpcID != "" && f.VpcID != f.Resource {
				where += " in " + f.VpcID
			}
			fmt.Fprintf(w, "  %s %s: %s\n", f.Check, where, f.Title)
			if len(f.Rules) > 0 {
				fmt.Fprintf(w, "    rules: %s\n", strings.Join(f.Rules, ", "))
			}
			fmt.Fprintf(w, "    why:   %s\n", strings.ReplaceAll(f.Why, "\n", "\n           "))
			if len(f.Fix) > 0 {
				fmt.Fprintln(w, "    fix:")
				for _, c := range f.Fix {
					fmt.Fprintf(w, "      %s\n", c)
				}
			}
		}
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintln(w, "\nskipped:")
		for _, id := range slices.Sorted(maps.Keys(r.Skipped)) {
			fmt.Fprintf(w, "  %s: %s\n", id, r.Skipped[id])
		}
	}
	if len(r.Suppressed) > 0 {
		fmt.Fprintln(w, "\nsuppressed:")
		for _, f := range r.Suppressed {
			fmt.Fprintf(w, "  %s %s: %s\n", f.Check, f.Resource, f.Suppressed)
		}
	}
}

// WriteJSON prints the Report, indented.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// SARIF 2.1.0 (OASIS, https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html): only
// the objects and properties the report fills.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		InformationURI string      `json:"informationUri,omitempty"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string            `json:"id"`
		Name                 string            `json:"name,omitempty"`
		ShortDescription     sarifText         `json:"shortDescription"`
		Help                 *sarifText        `json:"help,omitempty"`
		DefaultConfiguration sarifConfig       `json:"defaultConfiguration"`
		Properties           map[string]string `json:"properties,omitempty"`
	}
	sarifConfig struct {
		Level string `json:"level"`
	}
	sarifText struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID     string            `json:"ruleId"`
		RuleIndex  int               `json:"ruleIndex"`
		Level      string            `json:"level"`
		Message    sarifText         `json:"message"`
		Locations  []sarifLocation   `json:"locations"`
		Properties map[string]any    `json:"properties,omitempty"`
		Partial    map[string]string `json:"partialFingerprints,omitempty"`
	}
	sarifLocation struct {
		LogicalLocations []sarifLogical `json:"logicalLocations"`
	}
	sarifLogical struct {
		Name               string `json:"name"`
		FullyQualifiedName string `json:"fullyQualifiedName"`
		Kind               string `json:"kind"`
	}
)

// sarifLevel maps a severity to SARIF's level (critical and high are errors, medium a warning,
// low and info notes); securitySeverity to the CVSS-like score GitHub code scanning ranks by.
func sarifLevel(s Severity) string {
	switch {
	case s >= High:
		return "error"
	case s == Medium:
		return "warning"
	}
	return "note"
}

var securitySeverity = map[Severity]string{Critical: "9.5", High: "8.0", Medium: "5.5", Low: "3.0", Info: "0.0"}

// WriteSARIF prints the report as SARIF; see WriteSARIF.
func (r *Report) WriteSARIF(w io.Writer) error { return WriteSARIF(w, r) }

// WriteSARIF prints reports (of several accounts or regions) as one SARIF run: a rule per check of the catalogue (its title
// and remediation), a result per finding with the level of its severity, the resource as a
// logical location ("account/region/vpc/resource"), the why as the message and the fix commands
// in the result's properties.
func WriteSARIF(w io.Writer, reports ...*Report) error {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "stockade-audit", InformationURI: "https://github.com/stockade/stockade"}}, Results: []sarifResult{}}
	index := map[string]int{}
	for i, c := range Catalogue() {
		index[c.ID] = i
		rule := sarifRule{ID: c.ID, Name: strings.ReplaceAll(c.ID, "-", ""), ShortDescription: sarifText{c.Title},
			DefaultConfiguration: sarifConfig{sarifLevel(c.Severity)},
			Properties:           map[string]string{"security-severity": securitySeverity[c.Severity]}}
		if rem := remediation[c.ID]; rem != "" {
			rule.Help = &sarifText{rem}
		}
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rule)
	}
	for _, f := range slices.Concat(mapReports(reports)...) {
		fqn := strings.Join(slices.DeleteFunc([]string{f.Account, f.Region, f.VpcID, f.Resource}, func(s string) bool { return s == "" }), "/")
		res := sarifResult{RuleID: f.Check, RuleIndex: index[f.Check], Level: sarifLevel(f.Severity), Message: sarifText{f.Why},
			Locations:  []sarifLocation{{LogicalLocations: []sarifLogical{{Name: f.Resource, FullyQualifiedName: fqn, Kind: "resource"}}}},
			Properties: map[string]any{"severity": f.Severity.String(), "resourceType": f.ResourceType},
			Partial:    map[string]string{"findingKey/v1": f.Key()}}
		if len(f.Rules) > 0 {
			res.Properties["rules"] = f.Rules
		}
		if len(f.Fix) > 0 {
			// Not SARIF's fixes: a fix object must carry artifactChanges (§3.55), edits of
			// files, and these commands change an account.
			res.Properties["fix"] = f.Fix
		}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}})
}

func mapReports(rs []*Report) [][]Finding {
	out := make([][]Finding, len(rs))
	for i, r := range rs {
		out[i] = r.Findings
	}
	return out
}

// remediation is the catalogue's remediation column (audit-checks §2.1), for SARIF's help.
var remediation = map[string]string{
	"SGA-001":  "Delete the rule. Re-add only the ports the workload serves; put public services behind a load balancer and allow the load balancer's group instead of /0.",
	"SGA-002":  "Remove the /0 source; use a bastion or VPN CIDR, a security-group reference, or a session-manager style path; never expose admin ports directly.",
	"SGA-003":  "Remove the ::/0 source; use a bastion or VPN CIDR, a security-group reference, or a session-manager style path; never expose admin ports directly.",
	"SGA-004":  "Close the port to the internet; if the service must be public, terminate it on a load balancer or reverse proxy and restrict the backend to that proxy's group.",
	"SGA-005":  "Databases never need internet ingress: allow only the application tier's group; use a private subnet.",
	"SGA-006":  "Remove; replace clear-text protocols with encrypted equivalents; file and directory services stay private.",
	"SGA-007":  "Either add the port to the organisation's authorized list with a justification, or restrict the source.",
	"SGA-008":  "Narrow to the exact partner or office ranges, or use a managed prefix list maintained by its owner.",
	"SGA-009":  "Move personal access to VPN or a bastion; keep partner ranges in a named prefix list with an owner tag.",
	"SGA-010":  "Trust a specific endpoint (Elastic IP or prefix list) or authenticate at a higher layer instead.",
	"SGA-011":  "Allow only the ICMP types needed (destination-unreachable / fragmentation-needed for PMTU, echo if monitoring needs it).",
	"SGA-012":  "Replace the range with the explicit ports the service uses.",
	"SGA-013":  "Limit intra-group traffic to the cluster's actual ports.",
	"SGA-014":  "Replace the CIDR with security-group references computed from the interfaces that actually need access.",
	"SGA-015":  "Swap the CIDR for that group's ID: membership then follows instances automatically.",
	"SGE-001":  "Restrict egress to the destinations the workload needs (package mirrors, APIs via endpoints or prefix lists, internal groups).",
	"SGE-002":  "Restrict egress to the destinations the workload needs.",
	"SGH-001":  "Empty the default group (both directions); create purpose-built groups.",
	"SGH-002":  "Move those interfaces to purpose-built groups; the default group should have no members.",
	"SGH-003":  "Delete, or tag as reserved with an owner and expiry.",
	"SGH-004":  "Replace with a named, reviewed group.",
	"SGH-005":  "Consolidate with prefix lists and security-group references; split by role.",
	"SGH-006":  "Describe why each rule exists (ticket, owner).",
	"SGH-007":  "Add owner, env and app tags.",
	"SGH-008":  "Rename by recreating (names are immutable in EC2).",
	"SGH-009":  "Consolidate groups per role.",
	"SGH-010":  "Merge identical groups; group by function.",
	"SGH-011":  "Split by role so that a rule change does not open every workload.",
	"SGH-012":  "Remove the redundant rule.",
	"SGH-013":  "Remove or repoint the rule.",
	"NACL-001": "Add lower-numbered deny entries for the admin ports from /0, or replace the broad allow with specific ranges.",
	"NACL-002": "Replace the allow-all with per-port allows plus ephemeral-port return rules.",
	"NACL-003": "Replace the allow-all with per-port allows plus ephemeral-port return rules.",
	"NACL-004": "Delete the network ACL.",
	"NACL-005": "Associate a reviewed custom network ACL where subnet-level filtering is wanted.",
	"NACL-006": "Add an allow for the ephemeral ports 1024-65535 to the peers concerned in the other direction.",
	"NACL-007": "Remove or renumber the entry.",
	"NACL-008": "Add owner, env and app tags.",
	"EXP-001":  "Close at the layer the explanation names (security-group rule, network ACL entry, route); prefer making the subnet private.",
	"EXP-002":  "Close at the layer the explanation names (security-group rule, network ACL entry, route); prefer making the subnet private.",
	"EXP-003":  "Keep the rule closed anyway: the path can appear with one attach or route change.",
	"MON-001":  "Enable an alert rule for the security-group change events, with a target.",
	"MON-002":  "Enable an alert rule for the network-ACL change events, with a target.",
	"MON-003":  "Investigate as possible attacker activity or unsafe manual debugging; require change tickets for /0 rules.",
	"MON-004":  "Enable flow logs (ALL preferred).",
	"MON-005":  "Remove the rule, or tag it as intentionally dormant.",
}
