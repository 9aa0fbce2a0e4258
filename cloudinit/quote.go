package cloudinit

import (
	"encoding/base64"
	"errors"
	"strings"
)

// errNUL: sh keeps its words as C strings, so no quoting can carry a NUL byte into one.
var errNUL = errors.New("contains a NUL byte, which a shell word cannot hold")

// quote returns s as one sh word that the shell reads back as exactly s: single-quoted,
// each ' written as the four bytes ' \ ' ' (close the quote, an escaped quote, reopen).
// Between single quotes sh interprets nothing — not $, `, \, newlines or globs — so this is
// the whole of POSIX quoting (XCU 2.2.2). NUL is refused: a word cannot hold it.
func quote(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", errNUL
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'", nil
}

// printable makes a console message from text that may hold user data: NUL bytes become
// "\0", so that the message can be quoted.
func printable(s string) string { return strings.ReplaceAll(s, "\x00", `\0`) }

// writer builds a script. Its commands are this package's helpers with quoted arguments; the
// first argument that cannot be quoted is kept as err (parsing refuses NUL before, so an err
// here is a bug that fails the script rather than mis-quoting it).
type writer struct {
	b   strings.Builder
	err error
}

// raw writes trusted script text: this package's own constants, never user data.
func (w *writer) raw(s string) { w.b.WriteString(s) }

// cmd writes one command line: name (a constant) and its arguments, each quoted.
func (w *writer) cmd(name string, args ...string) {
	w.b.WriteString(name)
	for _, a := range args {
		q, err := quote(a)
		if err != nil && w.err == nil {
			w.err = err
		}
		w.b.WriteByte(' ')
		w.b.WriteString(q)
	}
	w.b.WriteByte('\n')
}

func (w *writer) bytes() []byte { return []byte(w.b.String()) }

// b64 encodes data for a script argument, in lines of 76 characters (base64 -d skips the
// newlines), so that a script stays readable in an editor.
func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76])
		b.WriteByte('\n')
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}
