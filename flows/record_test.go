package flows

import (
	"bytes"
	"compress/gzip"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadFormats(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name  string
		lines []string
		want  []Record
	}{
		{"default v2", []string{v2,
			"2 111122223333 eni-web 192.0.2.5 10.0.1.10 50000 22 6 5 400 1700000000 1700000059 ACCEPT OK",
			"2 111122223333 eni-db - - - - - - - 1700000000 1700000059 - NODATA"},
			[]Record{
				{Account: "111122223333", Interface: "eni-web", Src: a("192.0.2.5"), Dst: a("10.0.1.10"), PktSrc: a("192.0.2.5"), PktDst: a("10.0.1.10"),
					SrcPort: 50000, DstPort: 22, Proto: 6, Packets: 5, Bytes: 400, Start: 1700000000, End: 1700000059, Action: "ACCEPT", Status: "OK", Flags: -1},
				{Account: "111122223333", Interface: "eni-db", Start: 1700000000, End: 1700000059, Status: "NODATA", Flags: -1},
			}},
		{"custom order with direction, flags and packet addresses", []string{
			"interface-id flow-direction pkt-srcaddr srcaddr dstaddr pkt-dstaddr srcport dstport protocol tcp-flags packets bytes start end action log-status vpc-id",
			"eni-web egress 10.0.1.11 10.0.1.10 10.0.2.20 10.0.2.20 40000 5432 6 3 10 900 1700000000 1700000010 ACCEPT OK vpc-1"},
			[]Record{{Interface: "eni-web", Dir: Egress, Src: a("10.0.1.10"), Dst: a("10.0.2.20"), PktSrc: a("10.0.1.11"), PktDst: a("10.0.2.20"),
				SrcPort: 40000, DstPort: 5432, Proto: 6, Flags: 3, Packets: 10, Bytes: 900, Start: 1700000000, End: 1700000010, Action: "ACCEPT", Status: "OK"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, records(t, tt.lines...), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadRefusesMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"empty":             "",
		"no interface-id":   "version srcaddr\n2 10.0.0.1\n",
		"too few values":    v2 + "\n2 1 eni-a 10.0.0.1\n",
		"too many values":   v2 + "\n2 1 eni-a 10.0.0.1 10.0.0.2 1 2 6 1 1 1 1 ACCEPT OK extra\n",
		"double space":      v2 + "\n2 1 eni-a  10.0.0.1 10.0.0.2 1 2 6 1 1 1 1 ACCEPT\n",
		"bad address":       v2 + "\n2 1 eni-a 10.0.0.300 10.0.0.2 1 2 6 1 1 1 1 ACCEPT OK\n",
		"port out of range": v2 + "\n2 1 eni-a 10.0.0.1 10.0.0.2 1 70000 6 1 1 1 1 ACCEPT OK\n",
	} {
		if err := Read(strings.NewReader(body), func(Record) {}); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
}

// TestReadDir reads the layout `aws s3 cp --recursive` leaves: gzipped objects under
// AWSLogs/…, Hive-style or not, and skips what is not a flow log.
func TestReadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string, gz bool) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		data := []byte(body)
		if gz {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(data)
			w.Close()
			data = b.Bytes()
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	line := "2 111122223333 eni-web 192.0.2.5 10.0.1.10 50000 22 6 5 400 1700000000 1700000059 ACCEPT OK"
	write("AWSLogs/111122223333/vpcflowlogs/us-east-1/2023/11/14/111122223333_vpcflowlogs_us-east-1_fl-1_20231114T2210Z_0a1b2c3d.log.gz", v2+"\n"+line+"\n", true)
	write("AWSLogs/aws-account-id=111122223333/aws-service=vpcflowlogs/aws-region=us-east-1/year=2023/month=11/day=14/111122223333_vpcflowlogs_us-east-1_fl-2_20231114T2210Z_0a1b2c3e.log.gz", v2+"\n"+line+"\n", true)
	write("AWSLogs/111122223333/CloudTrail/us-east-1/2023/11/14/trail.json.gz", "not a flow log", true)
	var n int
	if err := ReadDir(dir, func(Record) { n++ }); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("read %d records, want 2", n)
	}
}

// TestDedupe: the copies two flow logs of one interface wrote count once, and the copy kept
// has what both formats say.
func TestDedupe(t *testing.T) {
	rich := records(t, custom, "eni-web ingress 203.0.113.9 10.0.1.10 60000 22 6 2 3 180 100 110 REJECT OK")
	plain := records(t, v2,
		"2 111122223333 eni-web 203.0.113.9 10.0.1.10 60000 22 6 3 180 100 110 REJECT OK",
		"2 111122223333 eni-web 203.0.113.9 10.0.1.10 60001 22 6 3 180 100 110 REJECT OK")
	got := Dedupe(append(plain, rich...))
	if len(got) != 2 || got[0].Dir != Ingress || got[0].Flags != 2 || got[0].Account != "111122223333" || got[1].SrcPort != 60001 {
		t.Errorf("deduped: %+v", got)
	}
}
