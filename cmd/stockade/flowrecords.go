package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/flows"
	"github.com/stockade/stockade/logstore"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/objstore"
)

// flowSource is where `stockade flows` and `stockade audit` read a flow log's records and
// the network they are about: a running server (its admin socket for the network, its data
// directory's buckets and log groups for the records), or an export (a snapshot directory
// and a directory of downloaded flow-log objects).
type flowSource struct {
	DataDir, Account, Region string
	Snapshot, Records        string
}

// flowInput is what was read.
type flowInput struct {
	Account  string
	Snapshot netmap.Snapshot
	// Network tells that Snapshot was read (a running server, or --snapshot).
	Network  bool
	FlowLogs []*model.FlowLog // nil when not known (an export without describe-flow-logs.json)
	Records  []flows.Record
	// Live tells a running server's input; Trail is then its last day of rule-change records
	// (nil: it runs without its trail), and DataDir where its older ones are exported.
	Live    bool
	Trail   []json.RawMessage
	DataDir string
}

// readOfflineRecords reads the records of an export: the files under dir, in the layout
// `aws s3 cp --recursive` leaves.
func readOfflineRecords(dir string) ([]flows.Record, error) {
	var recs []flows.Record
	if err := flows.ReadDir(dir, func(r flows.Record) { recs = append(recs, r) }); err != nil {
		return nil, fmt.Errorf("flow-log records: %w", err)
	}
	return flows.Dedupe(recs), nil
}

// liveRecords reads the records of every flow log of account in region from the server's
// data directory: the objects its S3 destinations hold (each flow log's own files, by the
// ID in their names) and the events of its CloudWatch Logs groups, parsed with the flow
// log's format; the copies several flow logs of one interface wrote count once (Dedupe). The files are written atomically (objstore), so reading them beside the
// running server is safe.
func liveRecords(dataDir, account, region string, logs []*model.FlowLog) ([]flows.Record, error) {
	var recs []flows.Record
	add := func(r flows.Record) { recs = append(recs, r) }
	var objs *objstore.Store
	var lgs *logstore.Store
	defer func() {
		if objs != nil {
			objs.Close()
		}
	}()
	for _, fl := range logs {
		switch fl.DestType {
		case "s3":
			if objs == nil {
				var err error
				if objs, err = objstore.Open(filepath.Join(dataDir, datadir.S3), objstore.DefaultLimits()); err != nil {
					return nil, err
				}
			}
			bucket, _, _ := strings.Cut(strings.TrimPrefix(fl.Destination, "arn:aws:s3:::"), "/")
			if err := s3Records(objs, account, bucket, fl.ID, add); err != nil {
				return nil, fmt.Errorf("flow log %s: %w", fl.ID, err)
			}
		default:
			if lgs == nil {
				var err error
				if lgs, err = logstore.Open(filepath.Join(dataDir, datadir.Logs), logstore.DefaultLimits()); err != nil {
					return nil, err
				}
			}
			if err := logsRecords(lgs, logstore.Scope{Account: account, Region: region}, fl, add); err != nil {
				return nil, fmt.Errorf("flow log %s: %w", fl.ID, err)
			}
		}
	}
	return flows.Dedupe(recs), nil
}

// s3Records reads the objects of flow log id in bucket, page by page.
func s3Records(objs *objstore.Store, account, bucket, id string, add func(flows.Record)) error {
	q := objstore.ListQuery{MaxKeys: 1000}
	for {
		page, err := objs.List(account, bucket, q)
		var me *model.Error
		if errors.As(err, &me) && me.Code == model.NoSuchBucket.Name {
			return nil // nothing delivered (DescribeFlowLogs says why)
		}
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			if !strings.Contains(o.Key, "_vpcflowlogs_") || !strings.Contains(o.Key, "_"+id+"_") {
				continue
			}
			f, _, err := objs.Get(account, bucket, o.Key)
			if err != nil {
				return err
			}
			err = flows.ReadObject(o.Key, f, add)
			f.Close()
			if err != nil {
				return err
			}
		}
		if !page.Truncated {
			return nil
		}
		q.After = page.Next
	}
}

// logsRecords reads the events of a CloudWatch Logs flow log: one record a message, in the
// flow log's format (no header line, A3.2).
func logsRecords(lgs *logstore.Store, sc logstore.Scope, fl *model.FlowLog, add func(flows.Record)) error {
	if !lgs.HasGroup(sc, fl.LogGroupName) {
		return nil
	}
	streams, err := lgs.Streams(sc, fl.LogGroupName, "")
	if err != nil {
		return err
	}
	fields := flows.FieldsOf(fl.Format)
	for _, st := range streams {
		evs, err := lgs.Events(sc, fl.LogGroupName, st.Name)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			r, err := flows.ParseLine(fields, ev.Message)
			if err != nil {
				return fmt.Errorf("log stream %s: %w", st.Name, err)
			}
			add(flows.Complete(r))
		}
	}
	return nil
}

// read reads the network and the records from where src says.
func (src flowSource) read(ctx context.Context, needSnapshot bool) (flowInput, error) {
	if src.Records != "" || src.Snapshot != "" {
		if src.Records == "" {
			return flowInput{}, errors.New("--snapshot needs --records DIR: the flow-log files of the export")
		}
		in := flowInput{}
		var err error
		if in.Records, err = readOfflineRecords(src.Records); err != nil {
			return in, err
		}
		if src.Snapshot == "" {
			if needSnapshot {
				return in, errors.New("this analysis needs the network: give --snapshot DIR (AWS CLI JSON files) with --records")
			}
			return in, nil
		}
		return in, loadExport(src.Snapshot, &in)
	}
	c := adminapi.Dial(src.DataDir)
	accounts, err := c.ListAccounts(ctx)
	if err != nil {
		return flowInput{}, err
	}
	for _, a := range accounts {
		if a.ID == src.Account || a.Name == src.Account || src.Account == "" && a.Admin {
			st, err := c.State(ctx, a.ID, src.Region)
			if err != nil {
				return flowInput{}, err
			}
			in := flowInput{Account: a.ID, Snapshot: st.Snapshot, Network: true, FlowLogs: nonNil(st.FlowLogs),
				Live: true, Trail: st.RuleChangeRecords, DataDir: src.DataDir}
			in.Records, err = liveRecords(src.DataDir, a.ID, src.Region, st.FlowLogs)
			return in, err
		}
	}
	return flowInput{}, fmt.Errorf("no account %q on the server", src.Account)
}
