package trail

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/bolt"
)

// go test ./trail -run '^$' -bench LookupEvents -benchtime 2000x
//
// The store of benchRecords records is built once (several minutes) and kept in
// $TMPDIR/stockade-trail-bench-N.db for later runs; delete the file to rebuild it.
var benchRecords = flag.Int("trail.records", 1_000_000, "records in the LookupEvents benchmark's store")

var benchActions = []string{"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "CreateSecurityGroup",
	"DeleteSecurityGroup", "DescribeSecurityGroups", "DescribeInstances", "DescribeVpcs", "RunInstances",
	"CreateTags", "DescribeSecurityGroupRules"}

// benchStore opens (building it when needed) a store of n records spread evenly over the 80
// days before benchNow: 10 actions, 100 users, 1,000 security groups.
func benchStore(b *testing.B, n int) store.Store {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("stockade-trail-bench-%d.db", n))
	ctx := context.Background()
	st, err := bolt.Open(path, bolt.Options{HistoryLimit: 16})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, ok, _ := st.Get(ctx, "bench/complete"); ok {
		return st
	}
	b.Logf("building %s (%d records)", path, n)
	span := 80 * 24 * time.Hour
	var ops []store.Op
	for i := range n {
		id := alice
		id.UserName = fmt.Sprintf("user-%02d", i%100)
		id.AccessKeyID = fmt.Sprintf("AKIABENCH%011d", i%100)
		c := Call{Service: EC2, Action: benchActions[i%len(benchActions)], Identity: id, SourceIP: "10.0.0.1",
			UserAgent: "aws-cli/2.15.0", Region: "eu-west-1", RequestID: newUUID(),
			Params: q("GroupId", fmt.Sprintf("sg-%017d", i%1000)),
			Time:   benchNow.Add(-span + time.Duration(int64(span)/int64(n)*int64(i)))}
		r, err := Build(c)
		if err != nil {
			b.Fatal(err)
		}
		ops = append(ops, r.Ops()...)
		if (i+1)%2000 == 0 || i == n-1 {
			if _, err := st.Txn(ctx, nil, ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	if _, err := st.Txn(ctx, nil, []store.Op{{Key: "bench/complete", Value: []byte("1")}}); err != nil {
		b.Fatal(err)
	}
	return st
}

var benchNow = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// BenchmarkLookupEvents measures LookupEvents pages of 50 through Serve (parsing, index scan,
// record reads, JSON) and reports p50 and p99 latencies: the target is p99 < 50 ms for an
// attribute lookup over 1,000,000 records.
func BenchmarkLookupEvents(b *testing.B) {
	st := benchStore(b, *benchRecords)
	l, err := NewLookup(context.Background(), st, LookupOptions{Rate: -1, Now: func() time.Time { return benchNow }})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	cases := map[string]func() string{
		"EventName": func() string {
			return fmt.Sprintf(`{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":%q}]}`, benchActions[rng.IntN(len(benchActions))])
		},
		"Username": func() string {
			return fmt.Sprintf(`{"LookupAttributes":[{"AttributeKey":"Username","AttributeValue":"user-%02d"}]}`, rng.IntN(100))
		},
		"ResourceName": func() string {
			return fmt.Sprintf(`{"LookupAttributes":[{"AttributeKey":"ResourceName","AttributeValue":"sg-%017d"}]}`, rng.IntN(1000))
		},
		"ResourceNameInTimeRange": func() string {
			end := benchNow.Add(-time.Duration(rng.IntN(70*24)) * time.Hour)
			return fmt.Sprintf(`{"LookupAttributes":[{"AttributeKey":"ResourceName","AttributeValue":"sg-%017d"}],"StartTime":%d,"EndTime":%d}`,
				rng.IntN(1000), end.Add(-7*24*time.Hour).Unix(), end.Unix())
		},
		"NoAttribute": func() string { return `{}` },
	}
	for _, name := range []string{"EventName", "Username", "ResourceName", "ResourceNameInTimeRange", "NoAttribute"} {
		b.Run(name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				body := []byte(cases[name]())
				start := time.Now()
				res := l.Serve(context.Background(), euWest, Target, body)
				lat = append(lat, time.Since(start))
				if res.Status != 200 {
					b.Fatalf("%d %s", res.Status, res.Body)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
