package iampolicy

import "unicode/utf8"

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

// arnMatch compares an ARN with a pattern segment by segment (§6.3, and ArnLike in §6.4):
// wildcards act within a segment, so "arn:aws:ec2:*:1:security-group/*" does not match an
// ARN whose account segment differs, and '*' in the last segment spans '/' and ':'. The
// comparison is case-sensitive. A pattern of exactly "*" matches anything, ARN or not; a
// value that is not an ARN (the literal "*" of actions without a resource type) matches only
// an identical pattern.
func arnMatch[P ~string | ~[]byte](pat P, s string) bool {
	if len(pat) == 1 && pat[0] == '*' {
		return true
	}
	parts, ok := splitARN(s)
	if !ok {
		return string(pat) == s
	}
	pparts, _ := splitARN(pat)
	for i := range arnParts {
		if !wildMatch(pparts[i], parts[i], false) {
			return false
		}
	}
	return true
}

// textPattern is a policy string (Resource, or a String/Arn condition value): static, or a
// template when it holds policy variables.
type textPattern struct {
	static string
	tmpl   *template
}

func compileResource(raw string, vars bool) textPattern {
	static, tmpl := compileText(raw, vars)
	return textPattern{static: static, tmpl: tmpl}
}

// maxRendered bounds the stack buffer a template renders into; longer results spill to the
// heap, which is correct but allocates.
const maxRendered = 256

// matchARN reports whether ARN s matches the pattern, variables resolved from ev.
func (t *textPattern) matchARN(s string, ev *evalCtx) bool {
	if t.tmpl == nil {
		return arnMatch(t.static, s)
	}
	var buf [maxRendered]byte
	b, ok := t.tmpl.render(buf[:0], ev)
	return ok && arnMatch(b, s)
}
