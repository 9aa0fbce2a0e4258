package flows

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Direction is a record's direction relative to its interface; Unknown when the format has
// no flow-direction and the interface's addresses are not known.
type Direction uint8

const (
	Unknown Direction = iota
	Ingress
	Egress
)

func (d Direction) String() string {
	switch d {
	case Ingress:
		return "ingress"
	case Egress:
		return "egress"
	}
	return "-"
}

// MarshalText renders a direction by name in JSON.
func (d Direction) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Record is one flow-log record as read back: the fields the analyses use, whichever format
// carried them. Absent fields ("-", or not in the format) are zero; Flags is -1 when the
// format has no tcp-flags.
type Record struct {
	Account   string
	Interface string
	// Src and Dst are srcaddr and dstaddr (the interface's primary address on its own side);
	// PktSrc and PktDst are the packet's, equal to them when the format has no pkt-*addr.
	Src, Dst, PktSrc, PktDst netip.Addr
	SrcPort, DstPort         uint16
	Proto                    uint8
	Packets, Bytes           uint64
	Start, End               int64  // Unix seconds
	Action                   string // ACCEPT, REJECT, or "" (NODATA, SKIPDATA)
	Status                   string // OK, NODATA, SKIPDATA
	Dir                      Direction
	Flags                    int
}

// OK reports whether the record is about traffic (log-status OK).
func (r *Record) OK() bool { return r.Status == "OK" }

// Fields are the names of a format's fields in order, as a file's header names them.
type Fields []string

// DefaultFields is the default version-2 format (A1).
var DefaultFields = Fields(strings.Fields("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"))

// FieldsOf reads a LogFormat ("${version} ${srcaddr} …"); "" is the default format.
func FieldsOf(format string) Fields {
	if format == "" {
		return DefaultFields
	}
	var out Fields
	for _, tok := range strings.Fields(format) {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(tok, "${"), "}"))
	}
	return out
}

// ParseLine reads one record line of a file whose header (or flow log's format) is fs. A
// line must have exactly as many values as there are fields (the OpenTelemetry collector's
// rule, A3.3), single-space separated; "-" is absent.
func ParseLine(fs Fields, line string) (Record, error) {
	r := Record{Flags: -1, Status: "OK"}
	vals := strings.Split(line, " ")
	if len(vals) != len(fs) {
		return r, fmt.Errorf("%d values for %d fields", len(vals), len(fs))
	}
	for i, name := range fs {
		v := vals[i]
		if v == "-" {
			if name == "tcp-flags" {
				r.Flags = -1
			}
			continue
		}
		if err := r.set(name, v); err != nil {
			return r, fmt.Errorf("%s %q: %w", name, v, err)
		}
	}
	return r, nil
}

func (r *Record) set(name, v string) error {
	var err error
	switch name {
	case "account-id":
		r.Account = v
	case "interface-id":
		r.Interface = v
	case "srcaddr":
		r.Src, err = netip.ParseAddr(v)
	case "dstaddr":
		r.Dst, err = netip.ParseAddr(v)
	case "pkt-srcaddr":
		r.PktSrc, err = netip.ParseAddr(v)
	case "pkt-dstaddr":
		r.PktDst, err = netip.ParseAddr(v)
	case "srcport":
		r.SrcPort, err = parseUint[uint16](v, 16)
	case "dstport":
		r.DstPort, err = parseUint[uint16](v, 16)
	case "protocol":
		r.Proto, err = parseUint[uint8](v, 8)
	case "packets":
		r.Packets, err = parseUint[uint64](v, 64)
	case "bytes":
		r.Bytes, err = parseUint[uint64](v, 64)
	case "start":
		r.Start, err = strconv.ParseInt(v, 10, 64)
	case "end":
		r.End, err = strconv.ParseInt(v, 10, 64)
	case "action":
		r.Action = v
	case "log-status":
		r.Status = v
	case "flow-direction":
		switch v {
		case "ingress":
			r.Dir = Ingress
		case "egress":
			r.Dir = Egress
		}
	case "tcp-flags":
		var f uint8
		f, err = parseUint[uint8](v, 8)
		r.Flags = int(f)
	}
	return err
}

func parseUint[T uint8 | uint16 | uint64](v string, bits int) (T, error) {
	n, err := strconv.ParseUint(v, 10, bits)
	return T(n), err
}

// Complete fills in what the other fields imply: the packet addresses are srcaddr and
// dstaddr when the format has no pkt-srcaddr and pkt-dstaddr. Read calls it; a caller of
// ParseLine calls it once the record is parsed.
func Complete(r Record) Record {
	if !r.PktSrc.IsValid() {
		r.PktSrc = r.Src
	}
	if !r.PktDst.IsValid() {
		r.PktDst = r.Dst
	}
	return r
}

// Read reads the records of one file of an S3 destination (after gunzip): a header line
// naming the fields, then one record a line (A3.1). Every record is passed to add.
func Read(rd io.Reader, add func(Record)) error {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return err
		}
		return errors.New("empty file: no header line")
	}
	fs := Fields(strings.Fields(sc.Text()))
	if !slices.Contains(fs, "interface-id") {
		return fmt.Errorf("header %q names no interface-id", sc.Text())
	}
	n := 1
	for sc.Scan() {
		n++
		if sc.Text() == "" {
			continue
		}
		r, err := ParseLine(fs, sc.Text())
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		add(Complete(r))
	}
	return sc.Err()
}

// ReadObject reads one object: gzipped when its name ends in .gz (as AWS writes them),
// plain text otherwise.
func ReadObject(name string, rd io.Reader, add func(Record)) error {
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer zr.Close()
		rd = zr
	}
	if err := Read(rd, add); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// ReadDir reads every flow-log file under dir: the layout `aws s3 cp --recursive
// s3://BUCKET/AWSLogs/ DIR` leaves (AWSLogs/ACCOUNT/vpcflowlogs/REGION/YYYY/MM/DD/…, or the
// Hive-compatible one), or loose files. Files are the *.log.gz and *.log whose names contain
// "_vpcflowlogs_"; anything else (CloudTrail, digests) is not a flow log and is skipped.
func ReadDir(dir string, add func(Record)) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() || !strings.Contains(name, "_vpcflowlogs_") || !(strings.HasSuffix(name, ".log.gz") || strings.HasSuffix(name, ".log")) {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return ReadObject(path, f, add)
	})
}

// Dedupe drops the copies of a record that several flow logs of one interface each wrote
// (a VPC's log and a subnet's, or an ALL log and a REJECT-only one), so that a packet is
// counted once. Copies are the same flow, window, counts, action and status; the copy kept
// takes what the others' formats add (direction, tcp-flags, account, packet addresses).
func Dedupe(recs []Record) []Record {
	type key struct {
		iface            string
		src, dst         netip.Addr
		srcPort, dstPort uint16
		proto            uint8
		packets, bytes   uint64
		start, end       int64
		action, status   string
	}
	at := make(map[key]int, len(recs))
	out := recs[:0:0]
	for _, r := range recs {
		k := key{r.Interface, r.Src, r.Dst, r.SrcPort, r.DstPort, r.Proto, r.Packets, r.Bytes, r.Start, r.End, r.Action, r.Status}
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, r)
			continue
		}
		k0 := &out[i]
		if k0.Dir == Unknown {
			k0.Dir = r.Dir
		}
		if k0.Flags < 0 {
			k0.Flags = r.Flags
		}
		if k0.Account == "" {
			k0.Account = r.Account
		}
		if k0.PktSrc == k0.Src && r.PktSrc != r.Src {
			k0.PktSrc, k0.PktDst = r.PktSrc, r.PktDst
		}
	}
	return out
}
