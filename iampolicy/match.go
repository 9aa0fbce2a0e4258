package iampolicy

import (
	"strings"
	"unicode/utf8"
)

// Escaped wildcards. A policy variable's value and the escapes ${*} and ${?} stand for the
// characters themselves, not wildcards; compiled patterns carry them as these control bytes,
// which never occur in a valid document (the parser rejects control characters).
const (
	litStar  = 0x01
	litQuest = 0x02
)

// wildMatch reports whether s matches pattern p, where '*' matches any run of bytes (empty
// included) and '?' exactly one character. With fold, ASCII letters compare
// case-insensitively (action names, §6.3). It is the classic greedy algorithm with one
// backtracking point: linear in practice, O(len(p)·len(s)) at worst, and it never allocates.
// p is a string or a byte slice so that a pattern with substituted policy variables can be
// matched from a stack buffer.
func wildMatch[P ~string | ~[]byte](p P, s string, fold bool) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			switch c := p[pi]; c {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				// One character: step over a whole UTF-8 sequence, or over one byte that
				// does not start a valid one (a truncated sequence must not step past the
				// end of s, or past the bytes that follow it).
				pi++
				_, n := utf8.DecodeRuneInString(s[si:])
				si += n
				continue
			default:
				if byteEq(c, s[si], fold) {
					pi++
					si++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p) && si == len(s)
}

func byteEq(pc, sc byte, fold bool) bool {
	switch pc {
	case litStar:
		return sc == '*'
	case litQuest:
		return sc == '?'
	}
	if pc == sc {
		return true
	}
	return fold && lower(pc) == lower(sc)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// arnParts is the number of colon-separated segments an ARN is compared in: arn, partition,
// service, region, account, and the resource (which may itself hold colons).
const arnParts = 6

// splitARN cuts an ARN into its six segments without allocating; missing trailing segments
// are empty and ok is false.
func splitARN[P ~string | ~[]byte](s P) (parts [arnParts]P, ok bool) {
	for i := 0; i < arnParts-1; i++ {
		j := 0
		for j < len(s) && s[j] != ':' {
			j++
		}
		if j == len(s) {
			parts[i] = s
			return parts, false
		}
		parts[i], s = s[:j], s[j+1:]
	}
	parts[arnParts-1] = s
	return parts, true
}

// arnValue is a request's resource ARN split once per decision (§6.3), so that every
// statement's resource patterns compare segments without splitting it again.
type arnValue struct {
	s     string
	parts [arnParts]string
	ok    bool // s has all six segments; otherwise it is compared whole
}

func splitValue(s string) arnValue {
	parts, ok := splitARN(s)
	return arnValue{s: s, parts: parts, ok: ok}
}

// arnMatch compares an ARN with a pattern segment by segment (§6.3, and ArnLike in §6.4):
// wildcards act within a segment, so "arn:aws:ec2:*:1:security-group/*" does not match an
// ARN whose account segment differs, and '*' in the last segment spans '/' and ':'. The
// comparison is case-sensitive. A pattern of exactly "*" matches anything, ARN or not; a
// value that is not an ARN (the literal "*" of actions without a resource type) matches only
// an identical pattern.
func arnMatch[P ~string | ~[]byte](pat P, s string) bool {
	v := splitValue(s)
	return arnMatchValue(pat, &v)
}

// arnMatchValue is arnMatch against an already split value; the pattern is split here (a
// rendered template, or a condition value). Static Resource patterns use arnPattern instead.
func arnMatchValue[P ~string | ~[]byte](pat P, v *arnValue) bool {
	if len(pat) == 1 && pat[0] == '*' {
		return true
	}
	if !v.ok {
		return string(pat) == v.s
	}
	pparts, _ := splitARN(pat)
	for i := range arnParts {
		if !wildMatch(pparts[i], v.parts[i], false) {
			return false
		}
	}
	return true
}

// arnPattern is a static Resource pattern compiled once, when its policy is: split into its
// segments, each classified so that most compare without the wildcard matcher. It matches
// exactly what arnMatch does with the same pattern (TestARNPatternAgreesWithArnMatch).
type arnPattern struct {
	all  bool   // the pattern "*"
	raw  string // compared whole with a value that is not an ARN
	segs [arnParts]arnSeg
}

type segKind uint8

const (
	segExact  segKind = iota // no wildcard: equal to lit
	segAny                   // only '*': anything, empty included
	segPrefix                // lit followed by '*'s only: starts with lit
	segWild                  // anything else: wildMatch with lit
)

// arnSeg is one compiled segment; lit has escaped wildcards (litStar, litQuest) resolved to
// the characters themselves except in segWild, where wildMatch reads them.
type arnSeg struct {
	kind segKind
	lit  string
}

func compileARN(pat string) arnPattern {
	p := arnPattern{all: pat == "*", raw: pat}
	parts, _ := splitARN(pat)
	for i, seg := range parts {
		p.segs[i] = compileSeg(seg)
	}
	return p
}

func compileSeg(seg string) arnSeg {
	i := strings.IndexAny(seg, "*?")
	switch {
	case i < 0:
		return arnSeg{kind: segExact, lit: literal(seg)}
	case strings.Trim(seg[i:], "*") == "":
		if i == 0 {
			return arnSeg{kind: segAny}
		}
		return arnSeg{kind: segPrefix, lit: literal(seg[:i])}
	}
	return arnSeg{kind: segWild, lit: seg}
}

// literal resolves escaped wildcards to the characters they stand for.
func literal(s string) string {
	if strings.IndexByte(s, litStar) < 0 && strings.IndexByte(s, litQuest) < 0 {
		return s
	}
	return strings.NewReplacer(string(rune(litStar)), "*", string(rune(litQuest)), "?").Replace(s)
}

func (g *arnSeg) match(s string) bool {
	switch g.kind {
	case segExact:
		return s == g.lit
	case segAny:
		return true
	case segPrefix:
		return strings.HasPrefix(s, g.lit)
	}
	return wildMatch(g.lit, s, false)
}

func (p *arnPattern) match(v *arnValue) bool {
	if p.all {
		return true
	}
	if !v.ok {
		return p.raw == v.s
	}
	// The resource segment first: it is where patterns differ most, so a mismatch is found
	// at once.
	for i := arnParts - 1; i >= 0; i-- {
		if !p.segs[i].match(v.parts[i]) {
			return false
		}
	}
	return true
}

// textPattern is a policy string (Resource, or a String/Arn condition value): static, or a
// template when it holds policy variables. A static Resource also has its compiled arn.
type textPattern struct {
	static string
	tmpl   *template
	arn    arnPattern
}

func compileResource(raw string, vars bool) textPattern {
	static, tmpl := compileText(raw, vars)
	t := textPattern{static: static, tmpl: tmpl}
	if tmpl == nil {
		t.arn = compileARN(static)
	}
	return t
}

// maxRendered bounds the stack buffer a template renders into; longer results spill to the
// heap, which is correct but allocates.
const maxRendered = 256

// matchARN reports whether the request's ARN v matches the pattern, variables resolved from
// ev.
func (t *textPattern) matchARN(v *arnValue, ev *evalCtx) bool {
	if t.tmpl == nil {
		return t.arn.match(v)
	}
	var buf [maxRendered]byte
	b, ok := t.tmpl.render(buf[:0], ev)
	return ok && arnMatchValue(b, v)
}
