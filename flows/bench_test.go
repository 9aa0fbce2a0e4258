package flows

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// million renders 1,000,000 records about the fixture in the custom format, as one file:
// a quarter of the connections are https from many sources (request and reply), ssh from
// the office, web → db seen on both interfaces, and rejected attempts, spread over a day.
func million() []byte {
	var b bytes.Buffer
	b.WriteString(custom + "\n")
	const n = 1_000_000
	for i := range n / 2 {
		t := 1_700_000_000 + int64(i%1440)*60
		src := fmt.Sprintf("198.51.%d.%d", i/250%250, i%250+1)
		port := 32768 + i%28000
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "eni-web ingress %s 10.0.1.10 %d 443 6 2 10 4000 %d %d ACCEPT OK\n", src, port, t, t+59)
			fmt.Fprintf(&b, "eni-web egress 10.0.1.10 %s 443 %d 6 18 12 9000 %d %d ACCEPT OK\n", src, port, t, t+59)
		case 1:
			fmt.Fprintf(&b, "eni-web ingress 192.0.2.%d 10.0.1.10 %d 22 6 2 30 4000 %d %d ACCEPT OK\n", i%250+1, port, t, t+59)
			fmt.Fprintf(&b, "eni-web egress 10.0.1.10 192.0.2.%d 22 %d 6 18 30 9000 %d %d ACCEPT OK\n", i%250+1, port, t, t+59)
		case 2:
			fmt.Fprintf(&b, "eni-web egress 10.0.1.10 10.0.2.20 %d 5432 6 2 5 500 %d %d ACCEPT OK\n", port, t, t+59)
			fmt.Fprintf(&b, "eni-db ingress 10.0.1.10 10.0.2.20 %d 5432 6 2 5 500 %d %d ACCEPT OK\n", port, t, t+59)
		case 3:
			fmt.Fprintf(&b, "eni-web ingress %s 10.0.1.10 %d 3389 6 2 3 180 %d %d REJECT OK\n", src, port, t, t+59)
			fmt.Fprintf(&b, "eni-db ingress %s 10.0.2.20 %d 22 6 2 3 180 %d %d REJECT OK\n", src, port, t, t+59)
		}
	}
	return b.Bytes()
}

// BenchmarkAnalyses1M runs each analysis over 1,000,000 records (one op = the whole set):
// reading them from a gzipped file, top talkers, rejected attempts, attribution of every
// opening flow to its rules, and the impact of a revoke.
func BenchmarkAnalyses1M(b *testing.B) {
	text := million()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(text)
	zw.Close()
	var recs []Record
	if err := ReadObject("x.log.gz", bytes.NewReader(gz.Bytes()), func(r Record) { recs = append(recs, r) }); err != nil {
		b.Fatal(err)
	}
	if len(recs) != 1_000_000 {
		b.Fatalf("%d records", len(recs))
	}
	d := data(b, recs)
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			n := 0
			if err := ReadObject("x.log.gz", bytes.NewReader(gz.Bytes()), func(Record) { n++ }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(1e6*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("top", func(b *testing.B) {
		for b.Loop() {
			if _, err := Top(recs, "pair", 10); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rejected", func(b *testing.B) {
		for b.Loop() {
			Rejected(recs, DefaultAdminPorts, 1)
		}
	})
	b.Run("rules", func(b *testing.B) {
		for b.Loop() {
			if u := byID(d.Rules(Period{})); u["sgr-https"].Flows != 125_000 {
				b.Fatalf("https: %d flows", u["sgr-https"].Flows)
			}
		}
	})
	b.Run("impact", func(b *testing.B) {
		for b.Loop() {
			ref, err := d.Impact(Period{}, Change{Revoke: []string{"sgr-ssh-office"}})
			if err != nil || len(ref) == 0 {
				b.Fatal(err, len(ref))
			}
		}
	})
}

// rewindAccount is an account of n groups of 20 ingress rules each (tcp 1000-1019, each from
// a /29 of its own), today, and the day that built it: n AuthorizeSecurityGroupIngress calls
// of 20 rules, one group each, at n distinct times. The first of every hundred groups is
// carried by an interface.
func rewindAccount(n int) (netmap.Snapshot, []RuleChange, time.Time) {
	day := time.Unix(1_700_000_000, 0)
	s := netmap.Snapshot{
		VPCs:    []*model.VPC{{ID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.0.0/16")}},
		Subnets: []*model.Subnet{{ID: "subnet-1", VpcID: "vpc-1", CIDR: netip.MustParsePrefix("10.0.0.0/16")}},
	}
	var changes []RuleChange
	for g := range n {
		grp := &model.Group{ID: fmt.Sprintf("sg-%05d", g), VpcID: "vpc-1"}
		at := day.Add(time.Duration(g) * 24 * time.Hour / time.Duration(n))
		for r := range 20 {
			rule := model.Rule{ID: fmt.Sprintf("sgr-%05d-%02d", g, r), Protocol: "tcp", FromPort: int32(1000 + r), ToPort: int32(1000 + r),
				Peer: model.Peer{CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(g >> 8), byte(g), byte(8 * r)}), 29)}}
			grp.Ingress = append(grp.Ingress, rule)
			changes = append(changes, RuleChange{Time: at, GroupID: grp.ID, Added: true, Rule: rule})
		}
		s.Groups = append(s.Groups, grp)
		if g%100 == 0 {
			s.ENIs = append(s.ENIs, &model.NetworkInterface{ID: fmt.Sprintf("eni-%05d", g), SubnetID: "subnet-1", VpcID: "vpc-1",
				Groups: []string{grp.ID}, PrivateIP: netip.AddrFrom4([4]byte{10, 0, byte((g/100 + 1) >> 8), byte(g/100 + 1)})})
		}
	}
	return s, changes, day
}

// benchmarkRewind rewinds an account of n groups over its day and attributes no records,
// then 100 records spread over the day: the first interface's group and the one of the
// record's time, each to tcp 1005 from its rule's peer, the moment the group was authorized.
func benchmarkRewind(b *testing.B, n int) {
	cur, changes, day := rewindAccount(n)
	lines := []string{custom}
	for i := range 100 {
		g := i * n / 100 / 100 * 100 // a group with an interface, authorized at or before the record
		at := day.Add(time.Duration(i) * 24 * time.Hour / 100).Unix()
		lines = append(lines, fmt.Sprintf("eni-%05d ingress 100.%d.%d.41 10.0.%d.%d 50000 1005 6 2 3 180 %d %d ACCEPT OK",
			g, byte(g>>8), byte(g), byte((g/100+1)>>8), byte(g/100+1), at, at+10))
	}
	recs := records(b, lines...)
	for _, tc := range []struct {
		name string
		recs []Record
		used int
	}{{"records=0", nil, 0}, {"records=100", recs, min(100, n/100)}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				tl, err := Rewind(cur, changes)
				if err != nil {
					b.Fatal(err)
				}
				uses := (&Data{Records: tc.recs, Timeline: tl}).Rules(Period{})
				used := 0
				for _, u := range uses {
					if u.Status == "used" {
						used++
					}
				}
				if len(uses) != 20*n || used != tc.used {
					b.Fatalf("%d rules, %d used; want %d, %d", len(uses), used, 20*n, tc.used)
				}
			}
		})
	}
}

// BenchmarkRewind10k: an account of 10,000 groups of 20 rules, rewound over the 200,000 rule
// changes of the day that authorized them (10,000 calls), for MON-005 and `stockade flows`.
func BenchmarkRewind10k(b *testing.B) { benchmarkRewind(b, 10_000) }
