package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path/filepath"
)

// node is one value of a decoded file with its JSON path from the file's root
// (Vpcs[0].CidrBlock). The files are decoded into generic JSON values rather than Go structs so
// that a missing field is told apart from a zero one (a tcp permission without FromPort is not
// port 0) and so that every error names the exact path, with indexes, instead of a Go type.
type node struct {
	file    string
	path    string
	v       any
	present bool
}

func (n node) child(key string) string {
	if n.path == "" {
		return key
	}
	return n.path + "." + key
}

// loader reads the files of one snapshot directory and keeps the first error, which names the
// file and the JSON path of the field.
type loader struct {
	dir string
	err error
}

func (l *loader) failf(file, path, format string, args ...any) {
	if l.err != nil {
		return
	}
	if path == "" {
		path = "(top level)"
	}
	l.err = fmt.Errorf("%s: %s: %s", filepath.Join(l.dir, file), path, fmt.Sprintf(format, args...))
}

// read decodes one file; a missing file is an error that says which AWS CLI command writes it.
func (l *loader) read(file, command string) node {
	n := node{file: file}
	if l.err != nil {
		return n
	}
	path := filepath.Join(l.dir, file)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		l.err = fmt.Errorf("%s: missing: write it with `%s > %s`", path, command, path)
		return n
	}
	if err != nil {
		l.err = fmt.Errorf("snapshot: %w", err)
		return n
	}
	if err := json.Unmarshal(b, &n.v); err != nil {
		l.err = fmt.Errorf("%s: not the JSON the AWS CLI writes: %v", path, err)
		return n
	}
	n.present = true
	if _, ok := n.v.(map[string]any); !ok {
		l.failf(file, "", "expected an object, found %s", kind(n.v))
	}
	return n
}

// field is key of object n; n must be an object (an error otherwise).
func (l *loader) field(n node, key string) node {
	c := node{file: n.file, path: n.child(key)}
	if !n.present {
		return c
	}
	m, ok := n.v.(map[string]any)
	if !ok {
		l.failf(n.file, n.path, "expected an object, found %s", kind(n.v))
		return c
	}
	c.v, c.present = m[key]
	if c.v == nil {
		c.present = false // JSON null is as good as missing: the AWS CLI never writes it
	}
	return c
}

// list is the array at key. A missing array is an error when required, else empty.
func (l *loader) list(n node, key string, required bool) []node {
	c := l.field(n, key)
	if !c.present {
		if required && n.present {
			l.failf(c.file, c.path, "missing")
		}
		return nil
	}
	a, ok := c.v.([]any)
	if !ok {
		l.failf(c.file, c.path, "expected an array, found %s", kind(c.v))
		return nil
	}
	out := make([]node, len(a))
	for i, v := range a {
		out[i] = node{file: c.file, path: fmt.Sprintf("%s[%d]", c.path, i), v: v, present: v != nil}
	}
	return out
}

// object is the object at key, or an absent node (an error when required).
func (l *loader) object(n node, key string, required bool) node {
	c := l.field(n, key)
	if !c.present {
		if required && n.present {
			l.failf(c.file, c.path, "missing")
		}
		return c
	}
	if _, ok := c.v.(map[string]any); !ok {
		l.failf(c.file, c.path, "expected an object, found %s", kind(c.v))
		c.present = false
	}
	return c
}

// optStr is the string at key and whether it is there.
func (l *loader) optStr(n node, key string) (string, bool) {
	c := l.field(n, key)
	if !c.present {
		return "", false
	}
	s, ok := c.v.(string)
	if !ok {
		l.failf(c.file, c.path, "expected a string, found %s", kind(c.v))
		return "", false
	}
	return s, true
}

// str is the string at key, which must be there and not be empty.
func (l *loader) str(n node, key string) string {
	s, ok := l.optStr(n, key)
	if !ok || s == "" {
		if n.present {
			l.failf(n.file, n.child(key), "missing")
		}
	}
	return s
}

// integer is the whole number at key within [lo, hi], which must be there.
func (l *loader) integer(n node, key string, lo, hi int64) int64 {
	c := l.field(n, key)
	if !c.present {
		if n.present {
			l.failf(c.file, c.path, "missing")
		}
		return 0
	}
	f, ok := c.v.(float64)
	if !ok {
		l.failf(c.file, c.path, "expected a number, found %s", kind(c.v))
		return 0
	}
	if f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		l.failf(c.file, c.path, "%v is not a whole number from %d to %d", f, lo, hi)
		return 0
	}
	return int64(f)
}

// boolean is the true or false at key, which must be there.
func (l *loader) boolean(n node, key string) bool {
	c := l.field(n, key)
	if !c.present {
		if n.present {
			l.failf(c.file, c.path, "missing")
		}
		return false
	}
	b, ok := c.v.(bool)
	if !ok {
		l.failf(c.file, c.path, "expected true or false, found %s", kind(c.v))
	}
	return b
}

// prefix is the CIDR at key, which must be there.
func (l *loader) prefix(n node, key string) netip.Prefix {
	s := l.str(n, key)
	if s == "" {
		return netip.Prefix{}
	}
	return l.parsePrefix(n.file, n.child(key), s)
}

func (l *loader) parsePrefix(file, path, s string) netip.Prefix {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		l.failf(file, path, "%q is not a CIDR", s)
		return netip.Prefix{}
	}
	return p.Masked()
}

// addr is the IP address at key, which must be there.
func (l *loader) addr(n node, key string) netip.Addr {
	s := l.str(n, key)
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		l.failf(n.file, n.child(key), "%q is not an IP address", s)
	}
	return a
}

// kind names a decoded JSON value's type as JSON does, for errors.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "true or false"
	}
	return fmt.Sprintf("%T", v)
}
