package audit

import "net/netip"

// cloudRange is one published range of a public cloud provider (SGA-010).
type cloudRange struct {
	provider string
	prefix   netip.Prefix
}

// cloudRanges is a small sample of the providers' published ranges, as of 2026-12. It is a
// sample, not the lists: AWS publishes ip-ranges.json, Google cloud.json and Azure its
// Service Tags file, each thousands of entries that change weekly; an organisation that
// needs the full lists should load them (not built yet).
//
// 96.127.0.0/17 is the example AWS's own documentation of ip-ranges.json gives of an
// ip_prefix ("Syntax for AWS IP address range JSON", VPC User Guide). The others are
// [UNCONFIRMED]: widely cited as the providers' compute ranges, not checked against the
// published files here.
var cloudRanges = []cloudRange{
	{"AWS", netip.MustParsePrefix("96.127.0.0/17")},
	{"AWS", netip.MustParsePrefix("3.0.0.0/9")},      // [UNCONFIRMED]
	{"AWS", netip.MustParsePrefix("54.64.0.0/11")},   // [UNCONFIRMED]
	{"GCP", netip.MustParsePrefix("34.64.0.0/10")},   // [UNCONFIRMED]
	{"GCP", netip.MustParsePrefix("35.184.0.0/13")},  // [UNCONFIRMED]
	{"Azure", netip.MustParsePrefix("20.33.0.0/16")}, // [UNCONFIRMED]
	{"Azure", netip.MustParsePrefix("40.64.0.0/10")}, // [UNCONFIRMED]
}
