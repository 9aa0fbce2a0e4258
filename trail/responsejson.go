package trail

import (
	"bytes"
	"encoding/json"
	"strings"
)

// ec2ResponseJSON appends to dst the responseElements of a successful EC2 reply body to
// action — byte for byte what the tree path writes: marshalCapped of responseElements(body),
// wrapped in {action+"Response": …} for wrappedShapes, null beyond maxElements — and calls
// found for each resource lookupResources would find in it, in document order (the caller
// de-duplicates). It reads the XML once and writes the JSON as it goes: the tree path cost
// about 11 µs and 55 allocations per change (a string per name and text, an object per
// element, an interface per value), one of the largest parts of the trail's cost on the write
// path (issue 14). Here the output buffer (none when dst has room) and one string holding
// the resource names (per 16) are the only allocations on the replies Stockade's EC2 front
// writes: BenchmarkResponseElements/json, TestEC2ResponseJSONAllocs.
//
// The resources are read back from the JSON written (resourcesInJSON): lookupResources looks
// for members of the tree with a resource key and a string value, and those are exactly
// the JSON's members "key":"…", in the same order; redacted elements are gone from both.
//
// It accepts a subset of what scanResponse accepts, with the same checks (tag, text, end
// tag, entity), so that the tree it does not build is the scanner's. ok is false, dst's
// content kept and found not called, whenever it is not sure to convert identically: anything scanResponse
// gives up on, a prolog other than the fronts', a list whose children are not all item or
// member, a root with item, member, *Result or responseMetadata children (responseElements
// rearranges those), an element the tree path removes (secretAccessKey: its parent may become
// a leaf), a typed number json.Marshal refuses. The caller then takes the tree path.
// TestEC2ResponseJSONMatchesTree holds the two equal on random documents.
func ec2ResponseJSON(dst []byte, body []byte, action string, found func(Resource)) (out []byte, ok bool) {
	c := jsonConv{s: scanner{b: body}}
	start := len(dst)
	// The JSON is shorter than the XML it comes from but for escapes and typed empty
	// elements: one allocation at most, none for a caller's reused buffer.
	c.out = dst
	if n := len(body) + 64; cap(dst)-len(dst) < n {
		c.out = make([]byte, len(dst), len(dst)+n) // slices.Grow is two under the race detector
		copy(c.out, dst)
	}
	if !c.document(action) {
		return dst, false
	}
	if found != nil {
		resourcesInJSON(c.out[start:], found)
	}
	if len(c.out)-start > maxElements {
		c.out = append(c.out[:start], "null"...) // as marshalCapped; the resources still count
	}
	return c.out, true
}

// jsonConv is ec2ResponseJSON's state: the scanner over the body and the JSON written so far.
type jsonConv struct {
	s       scanner
	out     []byte
	scratch []byte // a text with references, decoded
}

// ec2Prolog is the XML declaration the EC2 front writes (ec2api's writeResponse);
// scanResponse accepts it, and any other is left to the tree path.
var ec2Prolog = []byte(`<?xml version="1.0" encoding="UTF-8"?>`)

var (
	setSuffix    = []byte("Set")
	resultSuffix = []byte("Result")
	underscore   = []byte("_")
	itemKey      = []byte("item")
	memberKey    = []byte("member")
)

// document converts the whole body, as scanResponse and responseElements read it.
func (c *jsonConv) document(action string) bool {
	s := &c.s
	if bytes.IndexByte(s.b, '\r') >= 0 {
		return false
	}
	s.space()
	if bytes.HasPrefix(s.b[s.i:], ec2Prolog) {
		s.i += len(ec2Prolog)
	} else if bytes.HasPrefix(s.b[s.i:], []byte("<?")) {
		return false
	}
	s.space()
	_, wrapped := wrappedShapes[action]
	if wrapped {
		// appendJSONString(action+"Response") without the string: the suffix needs no escape
		// and cannot complete a UTF-8 sequence of action's.
		c.out = appendJSONString(append(c.out, '{'), action)
		c.out = append(c.out[:len(c.out)-1], `Response":`...)
	}
	name, empty, ok := c.tag()
	switch {
	case !ok:
		return false
	case empty:
		c.out = append(c.out, "{}"...) // a root without children is {}, whatever its text
	case !c.content(name, nil, 0, true):
		return false
	}
	if wrapped {
		c.out = append(c.out, '}')
	}
	s.space()
	return s.i == len(s.b) // trailing content: encoding/xml's call
}

// List modes of an element with children, from its first child (xmlValue).
const (
	objectMode = iota
	itemsMode  // EC2's {"items":[…]}
	memberMode // a bare array
)

// content converts the content of the element just opened — raw its name, key its record key
// — through its end tag, as scanner.element and xmlValue do: text alone is a typed leaf,
// children make an object or a list and the text between them is dropped. The root's
// content is responseElements' object: its children's members, or {} without children.
func (c *jsonConv) content(raw, key []byte, depth int, root bool) bool {
	if depth > maxScanDepth {
		return false
	}
	start, ent, ok := c.text()
	if !ok {
		return false
	}
	if c.atEndTag() {
		end := c.s.i
		if !c.endTag(raw) {
			return false
		}
		if root {
			c.out = append(c.out, "{}"...)
			return true
		}
		t := c.s.b[start:end]
		if ent {
			t = c.decode(start, end)
		}
		return c.leaf(key, t)
	}
	mode := objectMode
	for n := 0; ; n++ {
		name, empty, ok := c.tag()
		if !ok {
			return false
		}
		// k is the child's record key: "item" or "member" in a list, else written in c.out
		// and read there.
		var k []byte
		switch {
		case keyIs(name, "item"):
			k = itemKey
		case keyIs(name, "member"):
			k = memberKey
		}
		switch {
		case root && (k != nil || bytes.HasSuffix(name, resultSuffix) || keyIs(name, "responseMetadata")):
			return false // responseElements rearranges these
		case n == 0 && k != nil:
			mode = memberMode
			if k[0] == 'i' {
				mode = itemsMode
				c.out = append(c.out, `{"items":`...)
			}
			c.out = append(c.out, '[')
		case n == 0:
			c.out = append(c.out, '{')
		case mode != objectMode && k == nil:
			return false // a list with another child is an object: not worth the care
		default:
			c.out = append(c.out, ',')
		}
		if mode == objectMode {
			k = c.appendKey(name)
		}
		repl, redacted := "", false
		if redactedLengths.has(k) {
			repl, redacted = redactedElements[string(k)]
		}
		if redacted && repl == "" {
			return false // removed, it can leave its parent a leaf: the tree path's call
		}
		mark := len(c.out)
		if empty {
			ok = c.leaf(k, nil)
		} else {
			ok = c.content(name, k, depth+1, false)
		}
		if !ok {
			return false
		}
		if redacted { // read through (it must parse), then replaced with what it held
			c.out = appendJSONString(c.out[:mark], repl)
		}
		if _, _, ok := c.text(); !ok {
			return false
		}
		if c.atEndTag() {
			break
		}
	}
	if !c.endTag(raw) {
		return false
	}
	switch mode {
	case itemsMode:
		c.out = append(c.out, "]}"...)
	case memberMode:
		c.out = append(c.out, ']')
	default:
		c.out = append(c.out, '}')
	}
	return true
}

// leaf appends the value of an element without children, key its record key and t its
// decoded text, as xmlValue types it.
func (c *jsonConv) leaf(key, t []byte) bool {
	switch {
	case bytes.HasSuffix(key, setSuffix) && len(bytes.TrimSpace(t)) == 0:
		c.out = append(c.out, "{}"...)
		return true
	case (string(t) == "true" || string(t) == "false") && boolElements[string(bytes.TrimPrefix(key, underscore))]:
		c.out = append(c.out, t...)
		return true
	case mayBeNumber(t) && numberElements[string(key)] && isNumber(string(t)):
		if !validNumber(string(t)) {
			return false // "007", "1.", "Inf": marshalCapped gives null for the whole field
		}
		c.out = append(c.out, t...)
		return true
	}
	for _, b := range t {
		if b >= 0x80 || !plainJSON[b] {
			c.out = appendJSONString(c.out, string(t)) // escapes: rare enough to allocate
			return true
		}
	}
	c.out = append(c.out, '"')
	c.out = append(c.out, t...)
	c.out = append(c.out, '"')
	return true
}

// mayBeNumber is false for most texts that strconv.ParseFloat refuses, quickly: those that
// do not start as a number, an infinity or a NaN can.
func mayBeNumber(t []byte) bool {
	if len(t) == 0 {
		return false
	}
	switch c := t[0]; {
	case '0' <= c && c <= '9', c == '-', c == '+', c == '.', c == 'i', c == 'I', c == 'n', c == 'N':
		return true
	}
	return false
}

// keyIs reports whether recordKey(name) is key, which starts with a lower-case letter, for
// the ASCII names the scanner reads.
func keyIs(name []byte, key string) bool {
	return len(name) == len(key) && (name[0] == key[0] || name[0] == key[0]-'a'+'A') && string(name[1:]) == key[1:]
}

// appendKey appends "key": for the element named name, key being recordKey(name), and gives
// the key's bytes in c.out: an allocation-free recordKey. Names are ASCII (scanner.name), so
// lowerFirst's Unicode case is not needed, and they need no JSON escape. The bytes stay valid
// while c.out grows: a reallocation leaves the old array as it was, and nothing is written
// over them until the member is done.
func (c *jsonConv) appendKey(name []byte) []byte {
	c.out = append(c.out, '"')
	from := len(c.out)
	if keyIs(name, "return") {
		c.out = append(c.out, "_return"...)
	} else {
		first := name[0]
		if 'A' <= first && first <= 'Z' {
			first += 'a' - 'A'
		}
		c.out = append(append(c.out, first), name[1:]...)
	}
	to := len(c.out)
	c.out = append(c.out, '"', ':')
	return c.out[from:to]
}

// tag reads a start tag at s.i with scanner.startTag's rules, giving its name as a span of the
// body rather than a string.
func (c *jsonConv) tag() (name []byte, empty, ok bool) {
	s := &c.s
	if s.i >= len(s.b) || s.b[s.i] != '<' {
		return nil, false, false
	}
	j, ok := s.name(s.i + 1)
	if !ok {
		return nil, false, false
	}
	name = s.b[s.i+1 : j]
	for {
		ws := scanner{b: s.b, i: j}
		ws.space()
		k := ws.i
		switch {
		case k >= len(s.b):
			return nil, false, false
		case s.b[k] == '>':
			s.i = k + 1
			return name, false, true
		case s.b[k] == '/' && k+1 < len(s.b) && s.b[k+1] == '>':
			s.i = k + 2
			return name, true, true
		case s.b[k] == '/' || k == j: // an attribute must follow white space
			return nil, false, false
		}
		if j, ok = s.attribute(k); !ok {
			return nil, false, false
		}
	}
}

// text reads character data and references up to the next '<' with scanner.element's checks.
// start is where it began; ent reports a reference in it (the text is then not its span).
// ok is false for what the scanner refuses, or when the body ends before a '<'.
func (c *jsonConv) text() (start int, ent, ok bool) {
	s := &c.s
	start = s.i
	s.space() // the indentation between elements, most of the text, is valid as it is
	for s.i < len(s.b) && s.b[s.i] != '<' {
		if s.b[s.i] == '&' {
			if _, ok := s.entity(); !ok {
				return 0, false, false
			}
			ent = true
			continue
		}
		j := s.i
		for j < len(s.b) && s.b[j] != '<' && s.b[j] != '&' {
			j++
		}
		chunk := s.b[s.i:j]
		if !validChars(chunk) || bytes.IndexByte(chunk, ']') >= 0 && bytes.Contains(chunk, []byte("]]>")) {
			return 0, false, false
		}
		s.i = j
	}
	return start, ent, s.i < len(s.b)
}

// decode is the text of body[start:end], which text accepted, with its references replaced.
func (c *jsonConv) decode(start, end int) []byte {
	t := c.scratch[:0]
	d := scanner{b: c.s.b, i: start}
	for d.i < end {
		if d.b[d.i] == '&' {
			r, _ := d.entity()
			t = append(t, r...)
			continue
		}
		j := d.i
		for j < end && d.b[j] != '&' {
			j++
		}
		t = append(t, d.b[d.i:j]...)
		d.i = j
	}
	c.scratch = t
	return t
}

// atEndTag reports whether s.i, at a '<', starts an end tag.
func (c *jsonConv) atEndTag() bool {
	return c.s.i+1 < len(c.s.b) && c.s.b[c.s.i+1] == '/'
}

// endTag reads "</raw>" at s.i, as scanner.element does: raw, a name, and nothing more of a
// name (the scanner gives up on a name followed by a non-ASCII byte).
func (c *jsonConv) endTag(raw []byte) bool {
	s := &c.s
	n := s.i + 2 + len(raw)
	if n > len(s.b) || !bytes.Equal(s.b[s.i+2:n], raw) || n < len(s.b) && (isNameByte(s.b[n]) || s.b[n] >= 0x80) {
		return false
	}
	ws := scanner{b: s.b, i: n}
	ws.space()
	if ws.i >= len(s.b) || s.b[ws.i] != '>' {
		return false
	}
	s.i = ws.i + 1
	return true
}

// resourcesInJSON calls found for each member of js, JSON that ec2ResponseJSON wrote, whose key
// is in resourceKeys and whose value is a non-empty string, in order; the names of up to
// len(batch) resources share one string.
func resourcesInJSON(js []byte, found func(Resource)) {
	type span struct {
		typ      string
		from, to int // the value's JSON string, quotes excluded
	}
	var batch [16]span
	n := 0
	flush := func() {
		size := 0
		for _, r := range batch[:n] {
			size += r.to - r.from
		}
		var names strings.Builder
		names.Grow(size)
		for _, r := range batch[:n] {
			names.Write(js[r.from:r.to])
		}
		all, at := names.String(), 0
		for _, r := range batch[:n] {
			name := all[at : at+r.to-r.from]
			at += r.to - r.from
			if strings.IndexByte(name, '\\') >= 0 { // an escape: the string's value (rare)
				var v string
				json.Unmarshal(js[r.from-1:r.to+1], &v) // valid: appendJSONString wrote it
				name = v
			}
			found(Resource{ResourceType: r.typ, ResourceName: name})
		}
		n = 0
	}
	for i := 0; i < len(js); i++ {
		if js[i] != '"' {
			continue
		}
		end := stringEnd(js, i)
		if end+2 < len(js) && js[end+1] == ':' && js[end+2] == '"' {
			if typ, ok := resourceKeyOf(js[i+1 : end]); ok {
				vend := stringEnd(js, end+2)
				if vend > end+3 {
					batch[n] = span{typ, end + 3, vend}
					if n++; n == len(batch) {
						flush()
					}
				}
				end = vend
			}
		}
		i = end
	}
	if n > 0 {
		flush()
	}
}

// resourceKeyOf is resourceKeys[string(key)], quickly for most keys, which are not in it.
func resourceKeyOf(key []byte) (string, bool) {
	if !resourceLengths.has(key) {
		return "", false
	}
	typ, ok := resourceKeys[string(key)]
	return typ, ok
}

// stringEnd is the index of the quote closing the JSON string that opens at js[i]: the next
// quote not escaped by an odd run of backslashes.
func stringEnd(js []byte, i int) int {
	for i++; ; i++ {
		q := bytes.IndexByte(js[i:], '"')
		if q < 0 {
			return len(js)
		}
		i += q
		n := 0
		for j := i - 1; js[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return i
		}
	}
}

// keyLengths marks the lengths of a table's keys, a check cheaper than a map's for the many
// keys that are not in it.
type keyLengths [4]uint64

// Tables the fast path looks up for every element or member; they are not changed at run
// time.
var redactedLengths, resourceLengths = lengthsOf(redactedElements), lengthsOf(resourceKeys)

func lengthsOf[V any](m map[string]V) (l keyLengths) {
	for k := range m {
		if len(k) < 256 {
			l[len(k)/64] |= 1 << (len(k) % 64)
		}
	}
	return l
}

// has is false when no key of the table is as long as k.
func (l *keyLengths) has(k []byte) bool {
	return len(k) >= 256 || l[len(k)/64]&(1<<(len(k)%64)) != 0
}
