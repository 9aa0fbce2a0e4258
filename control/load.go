package control

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/stockade/stockade/store"
)

// record is a stored resource record as Open reads it: whose it is, its kind and ID, and what
// decodeRecord made of it.
type record struct {
	tenant   Tenant
	kind, id string
	v        any
}

// recordsPerWorker is the fewest records worth another goroutine at start.
const recordsPerWorker = 256

// decodeRecords parses the keys of kvs and decodes their records on every CPU, returning them
// in kvs' order. Decoding the JSON is most of a start (at 10,000 groups of 20 rules, half a
// second on one CPU), and a record depends on no other until it joins its tenant, which Open
// does in order. The error is that of the first bad record in kvs' order, whichever worker met it.
func decodeRecords(kvs []store.KV) ([]record, error) {
	recs := make([]record, len(kvs))
	errs := make([]error, len(kvs))
	workers := min(runtime.GOMAXPROCS(0), len(kvs)/recordsPerWorker+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Strided, not in blocks: the records come sorted by kind, and a group's record
			// costs many times an address's.
			for i := w; i < len(kvs); i += workers {
				recs[i], errs[i] = readRecord(kvs[i])
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// readRecord parses one record's key and decodes its value.
func readRecord(kv store.KV) (record, error) {
	t, kind, id, ok := parseKey(kv.Key)
	if !ok {
		return record{}, fmt.Errorf("malformed key %q", kv.Key)
	}
	v, err := decodeRecord(kind, kv.Value)
	if err != nil {
		return record{}, fmt.Errorf("record %q: %w", kv.Key, err)
	}
	return record{tenant: t, kind: kind, id: id, v: v}, nil
}
