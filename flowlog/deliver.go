package flowlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stockade/stockade/logstore"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/objstore"
)

// Log is a flow-log definition with the account and region that own it.
type Log struct {
	Def             *model.FlowLog
	Account, Region string
}

// Covers tells whether the flow log watches ifc: it names the interface, its subnet or its VPC.
func (l Log) Covers(ifc *Interface) bool {
	id := l.Def.ResourceID
	return id == ifc.ID || id == ifc.Subnet || id == ifc.VPC
}

// keeps is the TrafficType filter; NODATA and SKIPDATA pass every filter (A2.1
// [UNCONFIRMED for ACCEPT- and REJECT-only logs]).
func (l Log) keeps(r *Record) bool {
	if r.Status != OK {
		return true
	}
	switch l.Def.TrafficType {
	case "ACCEPT":
		return r.Action == Accept
	case "REJECT":
		return r.Action == Reject
	}
	return true
}

// Select returns the records of recs this flow log writes: those of interfaces it covers
// that its TrafficType keeps.
func (l Log) Select(recs []Record) []*Record {
	var out []*Record
	for i := range recs {
		if l.Covers(recs[i].Iface) && l.keeps(&recs[i]) {
			out = append(out, &recs[i])
		}
	}
	return out
}

// Delivery is a flow log's DeliverLogsStatus and DeliverLogsErrorMessage.
type Delivery struct {
	Status  string // SUCCESS or FAILED
	Message string // "Rate limited", "Access error" or "Unknown error" when FAILED
}

// AWS's DeliverLogsErrorMessage values (API_FlowLog.html).
const (
	msgRateLimited  = "Rate limited"
	msgAccessError  = "Access error"
	msgUnknownError = "Unknown error"
)

// Writer delivers records to the flow logs' destinations: S3 objects through objstore,
// CloudWatch Logs events through logstore. It remembers each flow log's delivery status.
type Writer struct {
	Objects *objstore.Store
	Logs    *logstore.Store
	Log     *slog.Logger

	mu     sync.Mutex
	status map[string]Delivery
}

// Status is a flow log's delivery status: SUCCESS until a delivery fails, FAILED with AWS's
// message until one succeeds again.
func (w *Writer) Status(flowLogID string) Delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	if d, ok := w.status[flowLogID]; ok {
		return d
	}
	return Delivery{Status: "SUCCESS"}
}

func (w *Writer) setStatus(id string, err error) {
	d := Delivery{Status: "SUCCESS"}
	if err != nil {
		d = Delivery{Status: "FAILED", Message: deliveryMessage(err)}
		if w.Log != nil {
			w.Log.Warn("flow log delivery failed", "flow_log", id, "err", err)
		}
	}
	w.mu.Lock()
	if w.status == nil {
		w.status = map[string]Delivery{}
	}
	w.status[id] = d
	w.mu.Unlock()
}

// deliveryMessage maps a store's error to AWS's three messages: a destination that is not
// there (or not the owner's) is an access error [UNCONFIRMED for S3: AWS documents the
// messages for CloudWatch Logs], a store limit is a rate limit, anything else unknown.
func deliveryMessage(err error) string {
	var me *model.Error
	if errors.As(err, &me) {
		switch me.Code {
		case model.NoSuchBucket.Name, model.LogsResourceNotFound.Name:
			return msgAccessError
		case model.LogsLimitExceeded.Name, model.EntityTooLarge.Name:
			return msgRateLimited
		}
	}
	return msgUnknownError
}

// Deliver writes one window's records to every flow log's destination. start is the
// window's start; each flow log's failure is recorded in its status and does not stop the
// others.
func (w *Writer) Deliver(ctx context.Context, logs []Log, recs []Record, start time.Time) {
	for _, l := range logs {
		if ctx.Err() != nil {
			return
		}
		sel := l.Select(recs)
		if len(sel) == 0 {
			continue
		}
		f, err := ParseFormat(l.Def.Format)
		if err == nil {
			if l.Def.DestType == "s3" {
				err = w.putS3(l, f, sel, start)
			} else {
				err = w.putCloudWatch(l, f, sel)
			}
		}
		w.setStatus(l.Def.ID, err)
	}
}

// S3Object renders records as one S3 object of flow log l: its key and its gzipped body
// (a header line naming the fields, then one record a line). start is the window's start.
func S3Object(l Log, f Format, recs []*Record, start time.Time) (bucket, key string, body []byte) {
	var text bytes.Buffer
	text.WriteString(f.Header())
	text.WriteByte('\n')
	var line []byte
	for _, r := range recs {
		line = f.Append(line[:0], r)
		text.Write(append(line, '\n'))
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(text.Bytes()) // writes to a bytes.Buffer do not fail
	zw.Close()
	sum := sha256.Sum256(text.Bytes())
	bucket, key = S3Key(l, start, hex.EncodeToString(sum[:4]))
	return bucket, key, gz.Bytes()
}

// S3Key is where AWS puts a file of flow log l whose records end in the 5-minute slot of t
// (flow-logs-s3-path.html; all times UTC):
//
//	[prefix/]AWSLogs/ACCOUNT/vpcflowlogs/REGION/YYYY/MM/DD/[HH/]FILE
//	[prefix/]AWSLogs/aws-account-id=ACCOUNT/aws-service=vpcflowlogs/aws-region=REGION/year=YYYY/month=MM/day=DD/[hour=HH/]FILE
//
// FILE is ACCOUNT_vpcflowlogs_REGION_FLOWLOGID_YYYYMMDDTHHmmZ_HASH.log.gz with the slot's
// start; hash (hex, no '_', which flowlogs-reader splits on) keeps the files of one slot apart.
func S3Key(l Log, t time.Time, hash string) (bucket, key string) {
	rest := strings.TrimPrefix(l.Def.Destination, "arn:aws:s3:::")
	bucket, prefix, _ := strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	t = t.UTC()
	slot := t.Truncate(5 * time.Minute)
	var b strings.Builder
	if prefix != "" {
		b.WriteString(prefix + "/")
	}
	b.WriteString("AWSLogs/")
	if l.Def.HivePartitions {
		fmt.Fprintf(&b, "aws-account-id=%s/aws-service=vpcflowlogs/aws-region=%s/year=%04d/month=%02d/day=%02d/", l.Account, l.Region, t.Year(), t.Month(), t.Day())
		if l.Def.PerHour {
			fmt.Fprintf(&b, "hour=%02d/", t.Hour())
		}
	} else {
		fmt.Fprintf(&b, "%s/vpcflowlogs/%s/%04d/%02d/%02d/", l.Account, l.Region, t.Year(), t.Month(), t.Day())
		if l.Def.PerHour {
			fmt.Fprintf(&b, "%02d/", t.Hour())
		}
	}
	fmt.Fprintf(&b, "%s_vpcflowlogs_%s_%s_%sZ_%s.log.gz", l.Account, l.Region, l.Def.ID, slot.Format("20060102T1504"), hash)
	return bucket, b.String()
}

// putS3 writes one object per window: files are published per window rather than per five
// minutes, so several files may cover one 5-minute slot, as AWS's newer documentation allows.
// objstore.Put writes it atomically (temporary name, then rename).
func (w *Writer) putS3(l Log, f Format, recs []*Record, start time.Time) error {
	bucket, key, body := S3Object(l, f, recs, start)
	_, err := w.Objects.Put(l.Account, bucket, key, "application/gzip", body)
	return err
}

// StreamName is the CloudWatch Logs stream of an interface: one per ENI, shared by every flow
// log that sends that ENI to the same group [UNCONFIRMED: the "-all" suffix, as seen in
// published fixtures].
func StreamName(ifc *Interface) string { return ifc.ID + "-all" }

// putCloudWatch appends each record as one event (no header) to its interface's stream,
// stamped with the record's start, creating the group and the stream when missing, as AWS
// does with the flow log's role (its documented policy includes logs:CreateLogGroup;
// [UNCONFIRMED] that the group is created rather than delivery failing).
func (w *Writer) putCloudWatch(l Log, f Format, recs []*Record) error {
	sc := logstore.Scope{Account: l.Account, Region: l.Region}
	group := l.Def.LogGroupName
	if !w.Logs.HasGroup(sc, group) {
		if err := w.Logs.CreateGroup(sc, group); err != nil && !w.Logs.HasGroup(sc, group) {
			return err
		}
	}
	byStream := map[string][]logstore.Event{}
	for _, r := range recs {
		name := StreamName(r.Iface)
		byStream[name] = append(byStream[name], logstore.Event{Timestamp: r.Start * 1000, Message: f.Line(r)})
	}
	names := make([]string, 0, len(byStream))
	for n := range byStream {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		evs := byStream[name]
		slices.SortStableFunc(evs, func(a, b logstore.Event) int { return int(a.Timestamp - b.Timestamp) })
		err := w.Logs.Put(sc, group, name, evs)
		var me *model.Error
		if errors.As(err, &me) && me.Code == model.LogsResourceNotFound.Name {
			if err = w.Logs.CreateStream(sc, group, name); err == nil {
				err = w.Logs.Put(sc, group, name, evs)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
