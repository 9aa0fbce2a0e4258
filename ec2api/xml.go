package ec2api

import (
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// xmlWriter builds a response body. It writes straight into a byte slice — no reflection —
// because every response passes through it.
type xmlWriter struct{ b []byte }

// replyBuffers recycles the buffers replies are written into. A filtered describe that
// matches 40 groups of 20 rules is 350 KB of XML, and growing its buffer by appending
// allocated twice that a call: at 10,000 groups the collections that paced were the slowest
// of those calls (BENCHMARKS.md, "seventeenth session"). A buffer goes back only when nothing
// holds it any more (call.recycle) and only up to maxPooledReply, so that one listing of
// every group does not stay allocated.
var replyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

const maxPooledReply = 1 << 20

func (w *xmlWriter) open(name string) {
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

func (w *xmlWriter) close(name string) {
	w.b = append(w.b, '<', '/')
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

// empty writes <name/>, how EC2 renders an empty list.
func (w *xmlWriter) empty(name string) {
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
	w.b = append(w.b, '/', '>')
}

func (w *xmlWriter) str(name, v string) {
	w.open(name)
	w.text(v)
	w.close(name)
}

// opt writes the element only when v is not empty.
func (w *xmlWriter) opt(name, v string) {
	if v != "" {
		w.str(name, v)
	}
}

func (w *xmlWriter) int(name string, v int64) {
	w.open(name)
	w.b = strconv.AppendInt(w.b, v, 10)
	w.close(name)
}

// prefix writes a CIDR, whose text needs no escaping, without a string of its own: a
// describe writes one for every rule.
func (w *xmlWriter) prefix(name string, p netip.Prefix) {
	w.open(name)
	w.b = p.AppendTo(w.b)
	w.close(name)
}

func (w *xmlWriter) bool(name string, v bool) {
	w.open(name)
	w.b = strconv.AppendBool(w.b, v)
	w.close(name)
}

// time writes an ISO 8601 UTC timestamp with milliseconds, as EC2 does.
func (w *xmlWriter) time(name string, t time.Time) {
	w.open(name)
	w.b = t.UTC().AppendFormat(w.b, "2006-01-02T15:04:05.000Z")
	w.close(name)
}

// text appends s escaped for XML character data; invalid UTF-8 and characters XML forbids are
// replaced so the document always parses.
func (w *xmlWriter) text(s string) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '<':
				w.b = append(w.b, "&lt;"...)
			case c == '>':
				w.b = append(w.b, "&gt;"...)
			case c == '&':
				w.b = append(w.b, "&amp;"...)
			case c == '"':
				w.b = append(w.b, "&quot;"...)
			case c == '\'':
				w.b = append(w.b, "&apos;"...)
			case c == '\r':
				w.b = append(w.b, "&#xD;"...)
			case c < 0x20 && c != '\n' && c != '\t':
				w.b = append(w.b, "\uFFFD"...)
			default:
				w.b = append(w.b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || r == 0xFFFE || r == 0xFFFF {
			w.b = append(w.b, "\uFFFD"...)
		} else {
			w.b = append(w.b, s[i:i+size]...)
		}
		i += size
	}
}

// elem writes <name>, what body writes, then </name>.
func (w *xmlWriter) elem(name string, body func()) {
	w.open(name)
	body()
	w.close(name)
}
