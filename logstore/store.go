package logstore

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/objstore"
)

// Limits bound what one account may keep; tenants are untrusted.
type Limits struct {
	MaxAccountBytes int64 // all events' messages (+26 bytes each, as CloudWatch counts them)
	MaxGroups       int   // per account and region
	MaxStreams      int   // per group
}

// DefaultLimits: 64 MiB of events per account, 1,000 groups, 1,000 streams per group.
func DefaultLimits() Limits {
	return Limits{MaxAccountBytes: 64 << 20, MaxGroups: 1000, MaxStreams: 1000}
}

// Scope is an account in a region: CloudWatch Logs is regional.
type Scope struct{ Account, Region string }

// Event is one log event; times are Unix milliseconds.
type Event struct {
	Timestamp     int64  `json:"timestamp"`
	IngestionTime int64  `json:"ingestionTime"`
	Message       string `json:"message"`
}

// Size is the event's size as CloudWatch Logs counts it: the message's UTF-8 bytes plus 26.
func (e Event) Size() int64 { return int64(len(e.Message)) + 26 }

// Group and Stream are what Describe* report.
type Group struct {
	Name    string
	Created int64
	Bytes   int64
	ARN     string
	streams map[string]*Stream
	dir     string
}

type Stream struct {
	Name                string
	Created             int64
	First, Last, LastIn int64 // first and last event timestamps, last ingestion
	Bytes               int64
	events              []Event
	file                string
}

// Store is every account's log groups. It is safe for concurrent use.
type Store struct {
	dir    string
	lim    Limits
	mu     sync.Mutex
	groups map[Scope]map[string]*Group
	used   map[string]int64
	now    func() time.Time
}

// Open opens (creating) the store in dir and loads its events.
func Open(dir string, lim Limits) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	s := &Store{dir: dir, lim: lim, groups: map[Scope]map[string]*Group{}, used: map[string]int64{}, now: time.Now}
	accounts, _ := os.ReadDir(dir)
	for _, a := range accounts {
		regions, _ := os.ReadDir(filepath.Join(dir, a.Name()))
		for _, r := range regions {
			sc := Scope{a.Name(), r.Name()}
			groups, _ := os.ReadDir(filepath.Join(dir, a.Name(), r.Name()))
			for _, g := range groups {
				name, ok := objstore.DecodeKey(g.Name())
				if !ok {
					continue
				}
				if err := s.loadGroup(sc, name, filepath.Join(dir, a.Name(), r.Name(), g.Name())); err != nil {
					return nil, fmt.Errorf("logstore: group %s: %w", name, err)
				}
			}
		}
	}
	return s, nil
}

func (s *Store) loadGroup(sc Scope, name, dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, ".group"))
	if err != nil {
		return nil // a creation a crash interrupted
	}
	g := &Group{Name: name, dir: dir, streams: map[string]*Stream{}, ARN: groupARN(sc, name)}
	if err := json.Unmarshal(raw, &g.Created); err != nil {
		return err
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".jsonl")
		sname, ok2 := objstore.DecodeKey(base)
		if !ok || !ok2 {
			continue
		}
		st := &Stream{Name: sname, file: filepath.Join(dir, e.Name())}
		if fi, err := e.Info(); err == nil {
			st.Created = fi.ModTime().UnixMilli() // [UNCONFIRMED] the file's time stands for the stream's
		}
		f, err := os.Open(st.file)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 2<<20)
		for sc.Scan() {
			var ev Event
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				st.add(ev)
			}
		}
		f.Close()
		g.streams[sname] = st
		g.Bytes += st.Bytes
	}
	s.scope(sc)[name] = g
	s.used[sc.Account] += g.Bytes
	return nil
}

func (st *Stream) add(ev Event) {
	if len(st.events) == 0 || ev.Timestamp < st.First {
		st.First = ev.Timestamp
	}
	st.Last, st.LastIn = max(st.Last, ev.Timestamp), max(st.LastIn, ev.IngestionTime)
	st.Bytes += ev.Size()
	st.events = append(st.events, ev)
}

func (s *Store) scope(sc Scope) map[string]*Group {
	m := s.groups[sc]
	if m == nil {
		m = map[string]*Group{}
		s.groups[sc] = m
	}
	return m
}

func groupARN(sc Scope, name string) string {
	return "arn:aws:logs:" + sc.Region + ":" + sc.Account + ":log-group:" + name
}

// GroupARN is a log group's ARN, as IAM authorizes logs:* actions on it.
func GroupARN(sc Scope, name string) string { return groupARN(sc, name) }

func (s *Store) group(sc Scope, name string) (*Group, error) {
	g, ok := s.groups[sc][name]
	if !ok {
		return nil, model.LogsResourceNotFound.Errorf("The specified log group does not exist.")
	}
	return g, nil
}

// CreateGroup creates a log group.
func (s *Store) CreateGroup(sc Scope, name string) error {
	if err := checkGroupName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.scope(sc)
	if _, ok := m[name]; ok {
		return model.LogsResourceAlreadyExists.Errorf("The specified log group already exists")
	}
	if len(m) >= s.lim.MaxGroups {
		return model.LogsLimitExceeded.Errorf("Resource limit exceeded.")
	}
	dir := filepath.Join(s.dir, sc.Account, sc.Region, objstore.EncodeKey(name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return model.Internal(err)
	}
	created := s.now().UnixMilli()
	raw, _ := json.Marshal(created)
	if err := os.WriteFile(filepath.Join(dir, ".group"), raw, 0o600); err != nil {
		return model.Internal(err)
	}
	m[name] = &Group{Name: name, Created: created, dir: dir, streams: map[string]*Stream{}, ARN: groupARN(sc, name)}
	return nil
}

// DeleteGroup deletes a group with its streams and events.
func (s *Store) DeleteGroup(sc Scope, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.group(sc, name)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(g.dir, ".group")); err != nil {
		return model.Internal(err)
	}
	delete(s.groups[sc], name)
	s.used[sc.Account] -= g.Bytes
	os.RemoveAll(g.dir)
	return nil
}

// HasGroup reports whether the group exists (CreateFlowLogs' destination check).
func (s *Store) HasGroup(sc Scope, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.groups[sc][name]
	return ok
}

// Groups lists the scope's groups whose names start with prefix, by name.
func (s *Store) Groups(sc Scope, prefix string) []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Group
	for _, g := range s.groups[sc] {
		if strings.HasPrefix(g.Name, prefix) {
			c := *g
			c.streams = nil
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CreateStream creates a stream in a group.
func (s *Store) CreateStream(sc Scope, group, name string) error {
	if err := checkStreamName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.group(sc, group)
	if err != nil {
		return err
	}
	if _, ok := g.streams[name]; ok {
		return model.LogsResourceAlreadyExists.Errorf("The specified log stream already exists")
	}
	if len(g.streams) >= s.lim.MaxStreams {
		return model.LogsLimitExceeded.Errorf("Resource limit exceeded.")
	}
	st := &Stream{Name: name, Created: s.now().UnixMilli(), file: filepath.Join(g.dir, objstore.EncodeKey(name)+".jsonl")}
	f, err := os.OpenFile(st.file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return model.Internal(err)
	}
	f.Close()
	g.streams[name] = st
	return nil
}

// Streams lists a group's streams whose names start with prefix, by name.
func (s *Store) Streams(sc Scope, group, prefix string) ([]Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.group(sc, group)
	if err != nil {
		return nil, err
	}
	var out []Stream
	for _, st := range g.streams {
		if strings.HasPrefix(st.Name, prefix) {
			c := *st
			c.events = nil
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Stream) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Put appends events (already validated and in chronological order) to a stream, in one
// write.
func (s *Store) Put(sc Scope, group, stream string, events []Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.group(sc, group)
	if err != nil {
		return err
	}
	st, ok := g.streams[stream]
	if !ok {
		return model.LogsResourceNotFound.Errorf("The specified log stream does not exist.")
	}
	var size int64
	var buf bytes.Buffer
	now := s.now().UnixMilli()
	for i := range events {
		events[i].IngestionTime = now
		size += events[i].Size()
		line, _ := json.Marshal(events[i])
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if s.used[sc.Account]+size > s.lim.MaxAccountBytes {
		return model.LogsLimitExceeded.Errorf("The account's log events would exceed %d bytes, the most Stockade keeps for one account.", s.lim.MaxAccountBytes)
	}
	f, err := os.OpenFile(st.file, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return model.Internal(err)
	}
	_, err = f.Write(buf.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return model.Internal(err)
	}
	for _, ev := range events {
		st.add(ev)
	}
	g.Bytes += size
	s.used[sc.Account] += size
	return nil
}

// Events returns a copy of a stream's events in timestamp order.
func (s *Store) Events(sc Scope, group, stream string) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.group(sc, group)
	if err != nil {
		return nil, err
	}
	st, ok := g.streams[stream]
	if !ok {
		return nil, model.LogsResourceNotFound.Errorf("The specified log stream does not exist.")
	}
	out := slices.Clone(st.events)
	slices.SortStableFunc(out, func(a, b Event) int { return int(a.Timestamp - b.Timestamp) })
	return out, nil
}

// checkGroupName: 1–512 of [.-_/#A-Za-z0-9] (CreateLogGroup's pattern).
func checkGroupName(name string) error {
	ok := len(name) >= 1 && len(name) <= 512
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-/#", c) >= 0
	}
	if !ok {
		return model.LogsInvalidParameter.Errorf("1 validation error detected: Value '%s' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+", name)
	}
	return nil
}

// checkStreamName: 1–512 characters, no ':' or '*' (CreateLogStream's pattern).
func checkStreamName(name string) error {
	if len(name) < 1 || len(name) > 512 || strings.ContainsAny(name, ":*") {
		return model.LogsInvalidParameter.Errorf("1 validation error detected: Value '%s' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*", name)
	}
	return nil
}
