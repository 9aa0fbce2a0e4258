package cloudinit

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// config is a #cloud-config's keys that this package implements, validated. Errors holds
// every problem found (the script prints them and changes nothing); Ignored the keys, with
// their path, that are not implemented.
type config struct {
	Bootcmd, Runcmd []command
	Files           []file
	Groups          []group
	// UsersGiven: the cloud-config has users; without it cloud-init creates the default
	// user only.
	UsersGiven     bool
	Users          []user
	Keys           []string // top-level ssh_authorized_keys, the default user's
	Hostname, FQDN string
	EtcHosts       string // "" (leave /etc/hosts), "template" (rewrite it) or "localhost"
	Packages       []string
	PackageUpdate  bool // package_update or package_upgrade
	Ignored        []string
	Errors         []string
}

// command is a bootcmd or runcmd item: Line, a line of sh, or Argv, a command's words.
type command struct {
	Line string
	Argv []string
}

// file is a write_files entry, its content decoded.
type file struct {
	Path    string
	Content []byte
	Mode    uint32
	Owner   string // user[:group], names or numbers
	Append  bool
	Defer   bool
}

// group is a top-level groups entry.
type group struct {
	Name    string
	Members []string
}

// user is a users entry; Default stands for the image's default user.
type user struct {
	Default      bool
	Name         string
	UID          string // empty: the first free id from 1001
	Gecos        string
	Home         string
	Shell        string
	PrimaryGroup string
	Groups       []string
	Sudo         []string
	Keys         []string
	LockPasswd   bool
	NoCreateHome bool
}

// maxNodes bounds the YAML nodes a cloud-config may make us visit: aliases let 16 KiB of YAML
// name billions of nodes ("billion laughs").
const maxNodes = 100000

// parseConfig parses a #cloud-config document.
func parseConfig(data []byte) config {
	m, err := mapping(data)
	if err != nil {
		return config{Errors: []string{err.Error()}}
	}
	return decode(m)
}

// mapping parses a cloud-config document into its top-level key and value nodes, in order.
func mapping(data []byte) ([]*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("cloud-config is not valid YAML: %v", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // only comments: nothing to do
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return nil, nil
	}
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("cloud-config is not a mapping of keys to values")
	}
	return top.Content, nil
}

// merge merges top-level pairs of several cloud-configs: a later key replaces an earlier one,
// cloud-init's default merge of MIME parts (dict(replace)+list()+str()).
func merge(docs ...[]*yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	at := map[string]int{}
	for _, pairs := range docs {
		for i := 0; i+1 < len(pairs); i += 2 {
			k := pairs[i].Value
			if j, ok := at[k]; ok {
				out[j+1] = pairs[i+1]
				continue
			}
			at[k] = len(out)
			out = append(out, pairs[i], pairs[i+1])
		}
	}
	return out
}

type decoder struct {
	c     config
	nodes int
}

func decode(pairs []*yaml.Node) config {
	d := &decoder{}
	c := &d.c
	d.fields(pairs, "", func(k string, v *yaml.Node) bool {
		switch k {
		case "bootcmd":
			c.Bootcmd = d.commands(v, k)
		case "runcmd":
			c.Runcmd = d.commands(v, k)
		case "write_files":
			c.Files = d.files(v, k)
		case "groups":
			c.Groups = d.groups(v, k)
		case "users":
			c.UsersGiven = true
			c.Users = d.users(v, k)
		case "ssh_authorized_keys":
			c.Keys = d.keys(v, k)
		case "hostname":
			c.Hostname = d.hostname(v, k)
		case "fqdn":
			c.FQDN = d.hostname(v, k)
		case "manage_etc_hosts":
			c.EtcHosts = d.etcHosts(v, k)
		case "packages":
			c.Packages = d.packages(v, k)
		case "package_update", "package_upgrade", "apt_update", "apt_upgrade":
			c.PackageUpdate = d.boolean(v, k) || c.PackageUpdate
		default:
			return false
		}
		return true
	})
	if d.nodes > maxNodes {
		c.Errors = []string{fmt.Sprintf("cloud-config: more than %d YAML nodes (aliases?)", maxNodes)}
	}
	return *c
}

// maxErrors bounds the errors reported: a list of a thousand bad items says so once.
const maxErrors = 20

func (d *decoder) errorf(at, format string, args ...any) {
	if len(d.c.Errors) == maxErrors {
		d.c.Errors = append(d.c.Errors, "cloud-config: more errors are not listed")
	}
	if len(d.c.Errors) > maxErrors {
		return
	}
	d.c.Errors = append(d.c.Errors, "cloud-config: "+at+": "+printable(fmt.Sprintf(format, args...)))
}

// node follows aliases and counts the nodes visited; past maxNodes every node reads as null,
// which ends every walk.
func (d *decoder) node(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if d.nodes++; d.nodes > maxNodes {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// fields calls f on every key of a mapping's pairs; f reports whether it knows the key, and
// the keys it does not are listed as ignored.
func (d *decoder) fields(pairs []*yaml.Node, at string, f func(string, *yaml.Node) bool) {
	for i := 0; i+1 < len(pairs) && d.nodes <= maxNodes; i += 2 {
		k, v := d.node(pairs[i]).Value, d.node(pairs[i+1])
		if !f(k, v) {
			d.c.Ignored = append(d.c.Ignored, printable(join(at, k)))
		}
	}
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

func index(at string, i int) string { return at + "[" + strconv.Itoa(i) + "]" }

// str is a scalar's text; a NUL byte, which no shell word holds, is an error.
func (d *decoder) str(n *yaml.Node, at string) string {
	n = d.node(n)
	switch {
	case n.Kind != yaml.ScalarNode:
		d.errorf(at, "want a string")
		return ""
	case isNull(n):
		return ""
	case strings.IndexByte(n.Value, 0) >= 0:
		d.errorf(at, "%v", errNUL)
		return ""
	}
	return n.Value
}

// line is a string that must be one line (a key, a sudo rule, a gecos).
func (d *decoder) line(n *yaml.Node, at string) string {
	s := d.str(n, at)
	if strings.ContainsAny(s, "\n\r") {
		d.errorf(at, "must be one line")
		return ""
	}
	return s
}

// boolean reads YAML 1.1's booleans, as cloud-init's PyYAML does (yes/no/on/off too).
func (d *decoder) boolean(n *yaml.Node, at string) bool {
	n = d.node(n)
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on", "y":
			return true
		case "false", "no", "off", "n", "", "~", "null":
			return false
		}
	}
	d.errorf(at, "want true or false, not %q", n.Value)
	return false
}

// seq is a sequence's items; null is an empty one.
func (d *decoder) seq(n *yaml.Node, at string) []*yaml.Node {
	n = d.node(n)
	switch {
	case isNull(n):
		return nil
	case n.Kind != yaml.SequenceNode:
		d.errorf(at, "want a list")
		return nil
	}
	return n.Content
}

// names is a list of names, or one string of names separated by commas (cloud-init takes
// both for groups and users).
func (d *decoder) names(n *yaml.Node, at string) []string {
	var out []string
	if m := d.node(n); m.Kind == yaml.ScalarNode {
		for _, s := range strings.Split(d.str(m, at), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, d.name(s, at))
			}
		}
		return out
	}
	for i, item := range d.seq(n, at) {
		out = append(out, d.name(d.str(item, index(at, i)), index(at, i)))
	}
	return out
}

func (d *decoder) name(s, at string) string {
	if err := checkName(s); err != nil {
		d.errorf(at, "%v", err)
	}
	return s
}

func (d *decoder) commands(n *yaml.Node, at string) []command {
	var out []command
	for i, item := range d.seq(n, at) {
		at := index(at, i)
		if item = d.node(item); item.Kind == yaml.SequenceNode {
			c := command{Argv: []string{}}
			for j, w := range item.Content {
				c.Argv = append(c.Argv, d.str(w, index(at, j)))
			}
			out = append(out, c)
			continue
		}
		out = append(out, command{Line: d.str(item, at)})
	}
	return out
}

func (d *decoder) keys(n *yaml.Node, at string) []string {
	var out []string
	for i, item := range d.seq(n, at) {
		if k := strings.TrimSpace(d.line(item, index(at, i))); k != "" {
			out = append(out, k)
		}
	}
	return out
}

func (d *decoder) hostname(n *yaml.Node, at string) string {
	s := d.str(n, at)
	if err := checkHostname(s); err != nil {
		d.errorf(at, "%v", err)
	}
	return s
}

func (d *decoder) etcHosts(n *yaml.Node, at string) string {
	switch v := d.node(n).Value; v {
	case "template", "localhost":
		return v
	}
	if d.boolean(n, at) {
		return "template"
	}
	return ""
}

// packages are names, or [name, version] lists (name=version).
func (d *decoder) packages(n *yaml.Node, at string) []string {
	var out []string
	for i, item := range d.seq(n, at) {
		at := index(at, i)
		if item = d.node(item); item.Kind == yaml.SequenceNode {
			var words []string
			for j, w := range item.Content {
				words = append(words, d.line(w, index(at, j)))
			}
			out = append(out, strings.Join(words, "="))
			continue
		}
		out = append(out, d.line(item, at))
	}
	return out
}

func (d *decoder) groups(n *yaml.Node, at string) []group {
	var out []group
	add := func(pairs []*yaml.Node, at string) {
		d.fields(pairs, at, func(k string, v *yaml.Node) bool {
			out = append(out, group{Name: d.name(k, at), Members: d.names(v, join(at, k))})
			return true
		})
	}
	if m := d.node(n); m.Kind == yaml.MappingNode {
		add(m.Content, at)
		return out
	}
	for i, item := range d.seq(n, at) {
		at := index(at, i)
		if item = d.node(item); item.Kind == yaml.MappingNode {
			add(item.Content, at)
			continue
		}
		out = append(out, group{Name: d.name(d.str(item, at), at)})
	}
	return out
}

func (d *decoder) users(n *yaml.Node, at string) []user {
	var out []user
	if m := d.node(n); m.Kind == yaml.ScalarNode {
		for _, name := range d.names(m, at) {
			out = append(out, named(name))
		}
		return out
	}
	for i, item := range d.seq(n, at) {
		at := index(at, i)
		if item = d.node(item); item.Kind != yaml.MappingNode {
			out = append(out, named(d.name(d.str(item, at), at)))
			continue
		}
		out = append(out, d.user(item, at))
	}
	return out
}

// named is a users entry given by its name alone; "default" is the image's default user.
func named(name string) user {
	if name == "default" {
		return user{Default: true}
	}
	return user{Name: name, Home: "/home/" + name, Shell: "/bin/sh", LockPasswd: true}
}

func (d *decoder) user(n *yaml.Node, at string) user {
	u := user{LockPasswd: true}
	d.fields(n.Content, at, func(k string, v *yaml.Node) bool {
		at := join(at, k)
		switch k {
		case "name":
			u.Name = d.name(d.str(v, at), at)
		case "uid":
			u.UID = d.uid(v, at)
		case "gecos":
			if u.Gecos = d.line(v, at); strings.Contains(u.Gecos, ":") {
				d.errorf(at, "%q holds a colon, which separates /etc/passwd's fields", u.Gecos)
			}
		case "homedir":
			u.Home = d.path(v, at)
		case "shell":
			u.Shell = d.path(v, at)
		case "primary_group":
			u.PrimaryGroup = d.name(d.str(v, at), at)
		case "groups":
			u.Groups = d.names(v, at)
		case "sudo":
			u.Sudo = d.sudo(v, at)
		case "ssh_authorized_keys":
			u.Keys = d.keys(v, at)
		case "lock_passwd":
			u.LockPasswd = d.boolean(v, at)
		case "no_create_home":
			u.NoCreateHome = d.boolean(v, at)
		default:
			return false
		}
		return true
	})
	if u.Name == "" {
		d.errorf(at, "a user needs a name")
	}
	if u.Name == "default" {
		u = user{Default: true}
	}
	if u.Home == "" && u.Name != "" {
		u.Home = "/home/" + u.Name
	}
	if u.Shell == "" && !u.Default {
		u.Shell = "/bin/sh"
	}
	if strings.ContainsAny(u.Home+u.Shell, ":") {
		d.errorf(at, "homedir and shell cannot hold a colon, which separates /etc/passwd's fields")
	}
	return u
}

// uid is a user id below 65536 (a user namespace maps 16 bits' worth), root's excepted.
func (d *decoder) uid(n *yaml.Node, at string) string {
	s := d.str(n, at)
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v == 0 || v >= 1<<16 {
		d.errorf(at, "%q is not a user id from 1 to 65535", s)
		return ""
	}
	return strconv.FormatUint(v, 10)
}

// sudo is a rule, a list of rules, or false/null for none; the rules are recorded in
// /etc/sudoers.d as cloud-init does.
func (d *decoder) sudo(n *yaml.Node, at string) []string {
	n = d.node(n)
	if n.Kind == yaml.ScalarNode {
		if isNull(n) || n.Tag == "!!bool" && !d.boolean(n, at) {
			return nil
		}
		return []string{d.line(n, at)}
	}
	var out []string
	for i, item := range d.seq(n, at) {
		out = append(out, d.line(item, index(at, i)))
	}
	return out
}

// path is an absolute path, cleaned (a cleaned path has no "..": the script's root prefix
// cannot be escaped).
func (d *decoder) path(n *yaml.Node, at string) string {
	s := d.line(n, at)
	if !strings.HasPrefix(s, "/") {
		d.errorf(at, "%q is not an absolute path", s)
		return ""
	}
	return path.Clean(s)
}

func (d *decoder) files(n *yaml.Node, at string) []file {
	var out []file
	total := 0
	for i, item := range d.seq(n, at) {
		at := index(at, i)
		if item = d.node(item); item.Kind != yaml.MappingNode {
			d.errorf(at, "want a mapping with path and content")
			continue
		}
		f := d.file(item, at)
		if total += len(f.Content); total > MaxDecompressed {
			d.errorf(at, "write_files' contents are more than %d bytes", MaxDecompressed)
			return out
		}
		out = append(out, f)
	}
	return out
}

func (d *decoder) file(n *yaml.Node, at string) file {
	f := file{Mode: 0o644, Owner: "root:root"}
	var content *yaml.Node
	encoding := "text"
	d.fields(n.Content, at, func(k string, v *yaml.Node) bool {
		at := join(at, k)
		switch k {
		case "path":
			f.Path = d.path(v, at)
		case "content":
			content = v
		case "encoding":
			encoding = strings.ToLower(d.str(v, at))
		case "permissions":
			f.Mode = d.mode(v, at)
		case "owner":
			f.Owner = d.owner(v, at)
		case "append":
			f.Append = d.boolean(v, at)
		case "defer":
			f.Defer = d.boolean(v, at)
		default:
			return false
		}
		return true
	})
	if f.Path == "" {
		d.errorf(at, "a file needs a path")
	}
	if content != nil {
		f.Content = d.content(content, encoding, join(at, "content"))
	} else if _, err := decodeContent(nil, encoding); err != nil {
		d.errorf(join(at, "encoding"), "%v", err)
	}
	return f
}

// content decodes a file's content. A !!binary scalar is already base64 to YAML.
func (d *decoder) content(n *yaml.Node, encoding, at string) []byte {
	n = d.node(n)
	if n.Kind != yaml.ScalarNode {
		d.errorf(at, "want a string")
		return nil
	}
	raw := []byte(n.Value)
	if isNull(n) {
		raw = nil
	}
	if n.Tag == "!!binary" {
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
		if err != nil {
			d.errorf(at, "!!binary: %v", err)
			return nil
		}
		raw = b
	}
	out, err := decodeContent(raw, encoding)
	if err != nil {
		d.errorf(at, "%v", err)
	}
	return out
}

// decodeContent applies a write_files encoding (cloud-init's cc_write_files.canonicalize_
// extraction): text, b64/base64, gz/gzip, gz+b64/gzip+base64 and the like.
func decodeContent(raw []byte, encoding string) ([]byte, error) {
	b64, gz := false, false
	switch encoding {
	case "", "text", "text/plain":
	case "b64", "base64":
		b64 = true
	case "gz", "gzip":
		gz = true
	case "gz+b64", "gzip+base64", "gz+base64", "gzip+b64":
		b64, gz = true, true
	default:
		return nil, fmt.Errorf("unknown encoding %q (text, b64, gzip or gz+b64)", encoding)
	}
	var err error
	if b64 {
		// Python's b64decode, which cloud-init calls, skips the characters outside the
		// alphabet: line breaks in the YAML are usual.
		s := strings.Join(strings.Fields(string(raw)), "")
		if raw, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("not base64: %v", err)
		}
	}
	if gz && raw != nil {
		if raw, err = gunzipContent(raw); err != nil {
			return nil, err
		}
	}
	return raw, nil
}

func gunzipContent(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not gzip: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(r, MaxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %v", err)
	}
	if len(out) > MaxDecompressed {
		return nil, fmt.Errorf("decompresses to more than %d bytes", MaxDecompressed)
	}
	return out, nil
}

// mode reads permissions as cloud-init's decode_perms does: a YAML integer is a number (0644
// is octal in YAML 1.1, 420 decimal), a string is octal ("0644", "644", "0o644").
func (d *decoder) mode(n *yaml.Node, at string) uint32 {
	n = d.node(n)
	s := d.str(n, at)
	var v uint64
	var err error
	if n.Tag == "!!int" {
		v, err = strconv.ParseUint(s, 0, 32)
	} else {
		v, err = strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O"), 8, 32)
	}
	if err != nil || v > 0o7777 {
		d.errorf(at, "%q is not a file mode (octal, at most 07777)", s)
		return 0o644
	}
	return uint32(v)
}

// owner is user[:group], each a name or a number.
func (d *decoder) owner(n *yaml.Node, at string) string {
	s := d.str(n, at)
	u, g, colon := strings.Cut(s, ":")
	for i, part := range []string{u, g} {
		if i == 1 && !colon {
			break
		}
		if _, err := strconv.ParseUint(part, 10, 32); err == nil {
			continue
		}
		if err := checkName(part); err != nil {
			d.errorf(at, "%q is not user:group: %v", s, err)
			return "root:root"
		}
	}
	return s
}

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*\$?$`)

// checkName accepts the user and group names useradd does (shadow's default NAME_REGEX with
// capitals, dots and a trailing $), at most 32 bytes: no colon, comma, space or newline can
// reach /etc/passwd or /etc/group.
func checkName(s string) error {
	if len(s) > 32 || !nameRE.MatchString(s) {
		return fmt.Errorf("%q is not a user or group name (a letter or _, then letters, digits, _ . -, at most 32)", s)
	}
	return nil
}

var labelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$`)

// checkHostname accepts RFC 1123 host names: dot-separated labels of letters, digits and
// inner hyphens, each at most 63 bytes, 253 in all.
func checkHostname(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("host name %q is longer than 253 bytes", s)
	}
	for _, l := range strings.Split(s, ".") {
		if len(l) > 63 || !labelRE.MatchString(l) {
			return fmt.Errorf("%q is not a host name (RFC 1123)", s)
		}
	}
	return nil
}
