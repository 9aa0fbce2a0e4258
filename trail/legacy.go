package trail

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/stockade/stockade/store"
)

// The first layout of the trail kept every record in the state store (trail/e/), with an
// index key per lookup attribute value (trail/i/) and one per time (trail/t/). A store
// written that way is moved into the Log once, at start-up, and its keys deleted; nothing
// else reads them.
const (
	legacyRecords = Prefix + "e/"
	legacyIndex   = Prefix + "i/"
	legacyTimes   = Prefix + "t/"
)

// legacyStored is a record as the first layout kept it.
type legacyStored struct {
	Record   json.RawMessage `json:"r"`
	Username string          `json:"u,omitempty"`
	Lookup   []Resource      `json:"l,omitempty"`
}

// legacyEntry reads one record of the first layout.
func legacyEntry(b []byte) (*entry, error) {
	var s legacyStored
	var r Record
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(s.Record, &r); err != nil {
		return nil, err
	}
	t, err := time.Parse(time.RFC3339, r.EventTime)
	if err != nil {
		return nil, err
	}
	return &entry{Time: t.Unix(), Account: r.RecipientAccountID, Region: r.AWSRegion, EventID: r.EventID,
		EventName: r.EventName, ReadOnly: r.ReadOnly, Username: s.Username, EventSource: r.EventSource,
		AccessKeyID: r.UserIdentity.AccessKeyID, Lookup: s.Lookup, JSON: s.Record}, nil
}

// migrateLegacy moves the first layout's records into log, a thousand per step, deleting
// them (and then their index and time keys) from st as it goes. A crash midway repeats at
// most the last step's appends, which contains filters out.
func migrateLegacy(ctx context.Context, st store.Store, log *Log, logger *slog.Logger) error {
	moved := 0
	for {
		kvs, err := st.Scan(ctx, legacyRecords, "", 1000, false)
		if err != nil {
			return fmt.Errorf("trail: migrating records: %w", err)
		}
		if len(kvs) == 0 {
			break
		}
		var entries []*entry
		del := make([]store.Op, 0, len(kvs))
		for _, kv := range kvs {
			del = append(del, store.Op{Key: kv.Key, Delete: true})
			e, err := legacyEntry(kv.Value)
			if err != nil {
				logger.Error("trail: damaged record of the first layout dropped", "key", kv.Key, "err", err)
				continue
			}
			if !log.contains(e.Account, e.Region, e.Time, e.EventID) {
				entries = append(entries, e)
			}
		}
		if err := log.append(entries); err != nil {
			return err
		}
		if _, err := st.Txn(ctx, nil, del); err != nil {
			return fmt.Errorf("trail: migrating records: %w", err)
		}
		moved += len(entries)
	}
	for _, prefix := range []string{legacyIndex, legacyTimes} {
		for {
			kvs, err := st.Scan(ctx, prefix, "", 10000, false)
			if err != nil {
				return fmt.Errorf("trail: migrating records: %w", err)
			}
			if len(kvs) == 0 {
				break
			}
			del := make([]store.Op, len(kvs))
			for i, kv := range kvs {
				del[i] = store.Op{Key: kv.Key, Delete: true}
			}
			if _, err := st.Txn(ctx, nil, del); err != nil {
				return fmt.Errorf("trail: migrating records: %w", err)
			}
		}
	}
	if moved > 0 {
		logger.Info("trail: records moved from the store to the trail log", "records", moved)
	}
	return nil
}
