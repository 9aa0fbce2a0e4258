// Package relay carries flow-log records from the hosts' agents to the API server, whose
// flowlog.Writer renders and stores them (docs/cross-host.md, "Flow logs on several hosts").
//
// An agent records the interfaces placed on its host (host.FlowLogs), but the S3 buckets and
// CloudWatch Logs groups the records go to live in the API server's data directory, and the
// delivery status DescribeFlowLogs reports is the server's. So the agent does not render:
// its Client sends each window's records, as a Batch of JSON (gzipped), to the server's
// Handler at Path, which hands them to the server's Writer exactly as the server's own lab
// does. flowlog.Writer stays the one renderer, and the records of an interface read the same
// whichever host it is on.
//
// Only the operator may deliver: a request must be signed (SigV4) with the administrator
// account's key — the credentials file every server writes into its data directory — and
// scoped to Service, so that no signature made for EC2, S3 or Logs is one for this. A
// tenant's key is refused whatever the batch names, since a batch may write into any
// account's buckets.
package relay

import (
	"errors"
	"fmt"
	"time"

	"github.com/stockade/stockade/flowlog"
)

const (
	// Path is the delivery endpoint on the API listener. It cannot be an EC2, Logs, IAM or
	// STS call (all POST /) nor an S3 one: "_" is no character of a bucket name, and calls
	// signed for S3 never reach the listener's routes (cmd/stockade withS3).
	Path = "/_stockade/flow-logs/deliver"
	// Service is the service a delivery's SigV4 scope names.
	Service = "stockade-flowlogs"
	// MaxBody bounds a delivery's body, compressed as sent and once decompressed: a batch of
	// MaxRecords records takes about 3 MB of JSON.
	MaxBody = 16 << 20
	// MaxRecords is the most records a batch carries; a window with more is sent as several
	// batches, each written as its own S3 object or CloudWatch Logs events (AWS too splits a
	// 5-minute slot over several files).
	MaxRecords = 10_000
)

// Batch is one window's records of one agent, or a part of them (MaxRecords), as sent.
// Records name their interface by its index in Interfaces, so that an interface's
// description travels once.
type Batch struct {
	// ID tells a batch sent again (its first reply lost) from a new one: the server
	// delivers an ID once.
	ID         string              `json:"id"`
	Host       string              `json:"host,omitempty"` // the sending agent's host, for the server's log
	Start      time.Time           `json:"start"`          // the window's start
	Logs       []flowlog.Log       `json:"logs"`
	Interfaces []flowlog.Interface `json:"interfaces"`
	Records    []Record            `json:"records"`
}

// Record is a flowlog.Record with its interface as an index into Batch.Interfaces.
type Record struct {
	Iface   int               `json:"iface"`
	Status  flowlog.Status    `json:"status,omitempty"`
	Dir     flowlog.Direction `json:"dir,omitempty"`
	Action  flowlog.Action    `json:"action,omitempty"`
	Flow    flowlog.Flow      `json:"flow"`
	Packets uint64            `json:"packets,omitempty"`
	Bytes   uint64            `json:"bytes,omitempty"`
	Start   int64             `json:"start"`
	End     int64             `json:"end"`
	Flags   uint8             `json:"flags,omitempty"`
}

// Encode cuts a window's records into batches of at most MaxRecords (none without records), each with the
// interfaces its records name. Every batch carries every flow log: the server selects what
// each one writes, as for its own lab.
func Encode(logs []flowlog.Log, recs []flowlog.Record, start time.Time) []Batch {
	var out []Batch
	for len(recs) > 0 {
		n := min(len(recs), MaxRecords)
		b := Batch{Start: start, Logs: logs, Records: make([]Record, 0, n)}
		index := map[*flowlog.Interface]int{}
		for _, r := range recs[:n] {
			i, ok := index[r.Iface]
			if !ok {
				i = len(b.Interfaces)
				index[r.Iface] = i
				b.Interfaces = append(b.Interfaces, *r.Iface)
			}
			b.Records = append(b.Records, Record{Iface: i, Status: r.Status, Dir: r.Dir, Action: r.Action, Flow: r.Flow,
				Packets: r.Packets, Bytes: r.Bytes, Start: r.Start, End: r.End, Flags: r.Flags})
		}
		out = append(out, b)
		recs = recs[n:]
	}
	return out
}

// Decode checks a received batch and returns what flowlog.Writer.Deliver takes. It refuses
// what the Writer would misread rather than deliver part of it: a record naming no interface,
// a flow log without a destination, values outside the record's enumerations.
func (b Batch) Decode() (logs []flowlog.Log, recs []flowlog.Record, start time.Time, err error) {
	switch {
	case b.Start.IsZero():
		return nil, nil, time.Time{}, errors.New("the batch has no window start")
	case len(b.Records) > MaxRecords:
		return nil, nil, time.Time{}, fmt.Errorf("the batch has %d records, more than %d", len(b.Records), MaxRecords)
	}
	for i, l := range b.Logs {
		if l.Def == nil || l.Def.ID == "" || l.Account == "" || l.Region == "" {
			return nil, nil, time.Time{}, fmt.Errorf("flow log %d: want its definition (id), account and region", i)
		}
		switch l.Def.DestType {
		case "s3", "cloud-watch-logs":
		default:
			return nil, nil, time.Time{}, fmt.Errorf("flow log %s: destination type %q", l.Def.ID, l.Def.DestType)
		}
		if _, err := flowlog.ParseFormat(l.Def.Format); err != nil {
			return nil, nil, time.Time{}, fmt.Errorf("flow log %s: %w", l.Def.ID, err)
		}
	}
	ifaces := make([]*flowlog.Interface, len(b.Interfaces))
	for i := range b.Interfaces {
		if b.Interfaces[i].ID == "" {
			return nil, nil, time.Time{}, fmt.Errorf("interface %d has no ID", i)
		}
		ifaces[i] = &b.Interfaces[i]
	}
	recs = make([]flowlog.Record, len(b.Records))
	for i, r := range b.Records {
		if r.Iface < 0 || r.Iface >= len(ifaces) {
			return nil, nil, time.Time{}, fmt.Errorf("record %d names interface %d of %d", i, r.Iface, len(ifaces))
		}
		if r.Status > flowlog.SkipData || r.Dir > flowlog.Egress || r.Action > flowlog.Reject || r.Start > r.End {
			return nil, nil, time.Time{}, fmt.Errorf("record %d: status, direction, action or times out of range", i)
		}
		recs[i] = flowlog.Record{Iface: ifaces[r.Iface], Status: r.Status, Dir: r.Dir, Action: r.Action, Flow: r.Flow,
			Packets: r.Packets, Bytes: r.Bytes, Start: r.Start, End: r.End, Flags: r.Flags}
	}
	return b.Logs, recs, b.Start, nil
}
