package trail

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// scanResponse is responseElements' first try: a scanner for the plain XML that Stockade's own
// API fronts write — a prolog, elements with attributes, text with the five named entities and
// character references — that builds the same tree as the encoding/xml path (xmlElement)
// without its tokens. encoding/xml allocates for every token; with the trail on, parsing each
// change's reply back into responseElements was about 5 % of the server's CPU while
// authorizing rules with 8 clients (perf), more than the rest of the record.
//
// Anything else — a comment, CDATA, a DOCTYPE, a carriage return (which encoding/xml
// normalises), an unknown entity, malformed input — makes it give up (errScanGiveUp), and the
// encoding/xml path decides, errors included. A test holds the two equal on random documents.
func scanResponse(body []byte) (any, error) {
	s := scanner{b: body}
	if bytes.IndexByte(body, '\r') >= 0 {
		return nil, errScanGiveUp
	}
	s.space()
	if bytes.HasPrefix(s.b[s.i:], []byte("<?xml")) {
		end := bytes.Index(s.b[s.i:], []byte("?>"))
		if end < 0 {
			return nil, errScanGiveUp
		}
		p := s.b[s.i : s.i+end]
		if !bytes.Contains(p, []byte(`version="1.0"`)) || bytes.Contains(p, []byte("encoding")) && !bytes.Contains(bytes.ToLower(p), []byte(`"utf-8"`)) {
			return nil, errScanGiveUp // another version or encoding: encoding/xml's call
		}
		s.i += end + 2
	}
	s.space()
	name, empty, ok := s.startTag()
	if !ok {
		return nil, errScanGiveUp
	}
	var v any
	if empty {
		v = xmlValue(name, "", nil)
	} else if v, ok = s.element(name, name, 0); !ok {
		return nil, errScanGiveUp
	}
	s.space()
	if s.i != len(s.b) {
		return nil, errScanGiveUp // trailing content: encoding/xml's call
	}
	return v, nil
}

var errScanGiveUp = errors.New("trail: response scanner gives up")

// maxScanDepth bounds the scanner's recursion; a deeper reply is left to encoding/xml.
const maxScanDepth = 64

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n':
			s.i++
		default:
			return
		}
	}
}

// startTag reads "<name attr="…"…>" or "<name…/>" at s.i: the element's name and whether it
// closed itself. Names are plain ASCII without a namespace prefix, attributes name="value"
// without entities; anything else is left to encoding/xml.
func (s *scanner) startTag() (name string, empty, ok bool) {
	if s.i >= len(s.b) || s.b[s.i] != '<' {
		return "", false, false
	}
	j := s.i + 1
	n, ok := s.name(j)
	if !ok {
		return "", false, false // "<!", "<?", "</", a prefix, or worse
	}
	name, j = string(s.b[j:n]), n
	for {
		sp := j
		for j < len(s.b) && (s.b[j] == ' ' || s.b[j] == '\t' || s.b[j] == '\n') {
			j++
		}
		if j >= len(s.b) {
			return "", false, false
		}
		switch s.b[j] {
		case '>':
			s.i = j + 1
			return name, false, true
		case '/':
			if j+1 < len(s.b) && s.b[j+1] == '>' {
				s.i = j + 2
				return name, true, true
			}
			return "", false, false
		}
		if j == sp { // an attribute must follow white space
			return "", false, false
		}
		if j, ok = s.attribute(j); !ok {
			return "", false, false
		}
	}
}

// attribute skips name="value" (or 'value') at j, returning what follows it.
func (s *scanner) attribute(j int) (int, bool) {
	n, ok := s.name(j)
	if !ok || n >= len(s.b) || s.b[n] != '=' || n+1 >= len(s.b) {
		return 0, false
	}
	q := s.b[n+1]
	if q != '"' && q != '\'' {
		return 0, false
	}
	end := bytes.IndexByte(s.b[n+2:], q)
	if end < 0 {
		return 0, false
	}
	if v := s.b[n+2 : n+2+end]; bytes.ContainsAny(v, "&<") || !validChars(v) {
		return 0, false
	}
	return n + 2 + end + 1, true
}

// name is the end of the XML name at j: ASCII letters, digits, '_', '-' and '.', starting with a
// letter or '_'.
func (s *scanner) name(j int) (int, bool) {
	if j >= len(s.b) || !(s.b[j] >= 'a' && s.b[j] <= 'z' || s.b[j] >= 'A' && s.b[j] <= 'Z' || s.b[j] == '_') {
		return 0, false
	}
	for j < len(s.b) && isNameByte(s.b[j]) {
		j++
	}
	if j < len(s.b) && s.b[j] >= 0x80 {
		return 0, false // a name with other letters: encoding/xml's call
	}
	return j, true
}

// element reads the content of the element just opened — raw its name, key its record key —
// through its end tag, as xmlElement does.
func (s *scanner) element(raw, key string, depth int) (any, bool) {
	if depth > maxScanDepth {
		return nil, false
	}
	var text strings.Builder
	var kids object
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '&':
			r, ok := s.entity()
			if !ok {
				return nil, false
			}
			text.WriteString(r)
		case c != '<':
			j := s.i
			for j < len(s.b) && s.b[j] != '<' && s.b[j] != '&' {
				j++
			}
			if chunk := s.b[s.i:j]; !validChars(chunk) || bytes.Contains(chunk, []byte("]]>")) {
				return nil, false
			}
			text.Write(s.b[s.i:j])
			s.i = j
		case s.i+1 < len(s.b) && s.b[s.i+1] == '/':
			n, ok := s.name(s.i + 2)
			if !ok || string(s.b[s.i+2:n]) != raw {
				return nil, false
			}
			j := n
			for j < len(s.b) && (s.b[j] == ' ' || s.b[j] == '\t' || s.b[j] == '\n') {
				j++
			}
			if j >= len(s.b) || s.b[j] != '>' {
				return nil, false
			}
			s.i = j + 1
			return xmlValue(key, text.String(), kids), true
		default:
			name, empty, ok := s.startTag()
			if !ok {
				return nil, false
			}
			k := recordKey(name)
			var v any
			if empty {
				v = xmlValue(k, "", nil)
			} else if v, ok = s.element(name, k, depth+1); !ok {
				return nil, false
			}
			if repl, ok := redactedElements[k]; ok {
				if repl == "" {
					continue
				}
				v = repl
			}
			kids = append(kids, member{k, v})
		}
	}
	return nil, false
}

// validChars reports whether b is UTF-8 of XML characters only (no control characters but tab
// and newline; carriage returns were refused up front).
func validChars(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 || !isXMLChar(r) {
			return false
		}
		i += n
	}
	return true
}

// entity decodes the entity or character reference at s.i.
func (s *scanner) entity() (string, bool) {
	end := bytes.IndexByte(s.b[s.i:], ';')
	if end < 0 || end > 12 {
		return "", false
	}
	name := string(s.b[s.i+1 : s.i+end])
	s.i += end + 1
	switch name {
	case "lt":
		return "<", true
	case "gt":
		return ">", true
	case "amp":
		return "&", true
	case "quot":
		return `"`, true
	case "apos":
		return "'", true
	}
	if len(name) < 2 || name[0] != '#' {
		return "", false
	}
	var n uint64
	var err error
	if name[1] == 'x' {
		n, err = strconv.ParseUint(name[2:], 16, 32)
	} else {
		n, err = strconv.ParseUint(name[1:], 10, 32)
	}
	r := rune(n)
	if err != nil || !isXMLChar(r) {
		return "", false
	}
	return string(r), true
}

// isNameByte is the ASCII subset of XML name characters the fronts write, without ':' (a
// namespace prefix is left to encoding/xml).
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// isXMLChar is XML 1.0's Char production, which encoding/xml enforces on character references.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
