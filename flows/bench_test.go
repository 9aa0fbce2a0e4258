package flows

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"testing"
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
