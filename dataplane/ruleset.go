package dataplane

import (
	"fmt"
	"slices"
	"strings"
)

// Table is the nftables table Stockade keeps in every router namespace. The router namespace
// belongs to Stockade: a whole replacement (Replace) removes any other table found there, since
// a foreign base chain with a drop policy (or an accept one at an earlier priority) would
// change what the router lets through.
const Table = "inet stockade"

// Kind is the kind of a named nftables object.
type Kind int

// Object kinds, in the order a table declares them: objects are declared before the rules and
// elements that refer to them.
const (
	CtTimeout Kind = iota
	Set
	Map
	Chain
)

var kindWords = [...]string{"ct timeout", "set", "map", "chain"}

func (k Kind) String() string {
	if int(k) >= len(kindWords) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindWords[k]
}

// Object is one named object of the table: its declaration (type, flags, hook; the lines that
// never change for a given name) and its contents (a chain's rules, a set's or map's elements).
// An Object is never changed once rendered: a Renderer hands the same *Object to the next
// ruleset when it is unchanged, and Update takes the same pointer for "unchanged" without
// reading it.
type Object struct {
	Kind Kind
	Name string
	// Decl are the declaration lines, such as "type ipv4_addr . inet_service" and
	// "flags interval", or a base chain's "type filter hook forward priority filter; policy drop;".
	Decl []string
	// Lines are a chain's rules in order, or a set's or map's elements sorted.
	Lines []string
}

// Ruleset is the whole table as the renderer wants it: objects by name.
type Ruleset struct {
	objects map[string]*Object
}

// NewRuleset returns an empty ruleset.
func NewRuleset() *Ruleset { return &Ruleset{objects: map[string]*Object{}} }

// add puts an object into the ruleset; a name is used once.
func (r *Ruleset) add(o *Object) *Object {
	if _, dup := r.objects[o.Name]; dup {
		panic("dataplane: object " + o.Name + " rendered twice")
	}
	r.objects[o.Name] = o
	return o
}

// Object returns the named object, or nil.
func (r *Ruleset) Object(name string) *Object { return r.objects[name] }

// Len is the number of objects.
func (r *Ruleset) Len() int { return len(r.objects) }

// sorted lists the objects by kind, then name: a stable order for text and transactions.
func (r *Ruleset) sorted() []*Object {
	out := make([]*Object, 0, len(r.objects))
	for _, o := range r.objects {
		out = append(out, o)
	}
	sortObjects(out)
	return out
}

func sortObjects(out []*Object) {
	slices.SortFunc(out, func(a, b *Object) int {
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// Text is the table's full definition, as `nft -f` reads it and close to how `nft list table`
// prints it.
func (r *Ruleset) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s {\n", Table)
	for i, o := range r.sorted() {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\t%s %s {\n", o.Kind, o.Name)
		for _, d := range o.Decl {
			fmt.Fprintf(&b, "\t\t%s\n", d)
		}
		switch o.Kind {
		case Chain:
			for _, l := range o.Lines {
				fmt.Fprintf(&b, "\t\t%s\n", l)
			}
		case Set, Map:
			if len(o.Lines) > 0 {
				fmt.Fprintf(&b, "\t\telements = { %s }\n", strings.Join(o.Lines, ",\n\t\t\t     "))
			}
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// Replace is a transaction that swaps the namespace's whole ruleset for r in one step: the
// kernel applies all of it or none of it, so no packet ever sees a missing or half-built
// table (fail closed; the flush and the rebuild are one transaction). It starts with
// `flush ruleset`, so that tables someone else added to the router namespace go too.
func (r *Ruleset) Replace() string {
	return "flush ruleset\n" + r.Text()
}

// Update is a transaction that turns the table from old into r by touching only what changed:
// new objects are declared, changed sets and maps get their elements added and removed in
// place (so a membership change is a one-element update), changed chains are flushed and
// refilled, and objects no longer wanted are deleted once nothing refers to them. It is one
// `nft -f` transaction, so it too is atomic. It returns "" when nothing changed, and ok=false
// when old and r differ in a way Update cannot express (a declaration changed), in which case
// the caller uses Replace.
func (r *Ruleset) Update(old *Ruleset) (tx string, ok bool) {
	// Only objects that are not the very same as before are read: with a Renderer's cache,
	// that is a handful of the thousands a large VPC has, and the rest cost a map lookup.
	var changed, gone []*Object
	for name, o := range r.objects {
		if old.objects[name] != o {
			changed = append(changed, o)
		}
	}
	for name, o := range old.objects {
		if r.objects[name] == nil {
			gone = append(gone, o)
		}
	}
	sortObjects(changed)
	sortObjects(gone)
	var add, elems, rules, flushGone, delChains, delOthers strings.Builder
	for _, o := range changed {
		prev := old.objects[o.Name]
		if prev != nil && (prev.Kind != o.Kind || !slices.Equal(prev.Decl, o.Decl)) {
			return "", false
		}
		if prev == nil {
			if o.Kind == Chain && isBase(o) {
				return "", false
			}
			if len(o.Decl) == 0 {
				fmt.Fprintf(&add, "add %s %s %s\n", o.Kind, Table, o.Name)
			} else {
				fmt.Fprintf(&add, "add %s %s %s { %s; }\n", o.Kind, Table, o.Name, strings.Join(o.Decl, "; "))
			}
		}
		var before []string
		if prev != nil {
			before = prev.Lines
		}
		switch o.Kind {
		case Chain:
			if prev != nil && slices.Equal(prev.Lines, o.Lines) {
				continue
			}
			if prev != nil {
				fmt.Fprintf(&rules, "flush chain %s %s\n", Table, o.Name)
			}
			for _, l := range o.Lines {
				fmt.Fprintf(&rules, "add rule %s %s %s\n", Table, o.Name, l)
			}
		case Set, Map:
			gone, added := difference(before, o.Lines), difference(o.Lines, before)
			if len(gone) > 0 {
				fmt.Fprintf(&elems, "delete element %s %s { %s }\n", Table, o.Name, strings.Join(gone, ", "))
			}
			if len(added) > 0 {
				fmt.Fprintf(&elems, "add element %s %s { %s }\n", Table, o.Name, strings.Join(added, ", "))
			}
		}
	}
	for _, o := range gone {
		if o.Kind == Chain {
			if isBase(o) {
				return "", false
			}
			fmt.Fprintf(&flushGone, "flush chain %s %s\n", Table, o.Name)
			fmt.Fprintf(&delChains, "delete chain %s %s\n", Table, o.Name)
			continue
		}
		fmt.Fprintf(&delOthers, "delete %s %s %s\n", o.Kind, Table, o.Name)
	}
	// Element deletions come before rule changes and chain deletions: a verdict map element
	// may jump to a chain that is about to go. Deleted sets and timeouts go last, when no rule
	// refers to them any more.
	tx = add.String() + elems.String() + rules.String() + flushGone.String() + delChains.String() + delOthers.String()
	return tx, true
}

func isBase(o *Object) bool {
	return len(o.Decl) > 0 && strings.Contains(o.Decl[0], " hook ")
}

// difference returns the lines of a that are not in b (both sorted).
func difference(a, b []string) []string {
	var out []string
	i, j := 0, 0
	for i < len(a) {
		switch {
		case j >= len(b) || a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] == b[j]:
			i++
			j++
		default:
			j++
		}
	}
	return out
}
