package cloudinit

import (
	"errors"
	"os/exec"
	"testing"
)

// hostile are strings that break a script when quoted wrongly.
var hostile = []string{
	"",
	"plain",
	"it's",
	"''",
	`'\''`,
	"$(touch /tmp/pwned)",
	"`id`",
	"${HOME}$HOME$0$1$@$*$?$$",
	"a\nb\n; rm -rf /\n",
	"\\'\\\"\\\\",
	"*?[a-z]~",
	"\"double\" 'single' `back`",
	"-n",
	"--",
	"tab\there\r\n",
	"\xff\xfe not UTF-8",
	"€ ünïcödé",
	"'; exit 0; echo '",
}

// TestQuoteRoundTrip has /bin/sh read every hostile string back through quote: printf prints
// exactly the string, and nothing in it runs.
func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range hostile {
		q, err := quote(s)
		if err != nil {
			t.Fatalf("quote(%q): %v", s, err)
		}
		out, err := exec.Command("/bin/sh", "-c", "printf '%s' "+q).Output()
		if err != nil {
			t.Fatalf("sh on quote(%q) = %s: %v", s, q, err)
		}
		if string(out) != s {
			t.Errorf("sh read quote(%q) = %s back as %q", s, q, out)
		}
	}
}

// TestQuoteOneWord: a quoted string is one word wherever it stands, even among others.
func TestQuoteOneWord(t *testing.T) {
	for _, s := range hostile {
		q, _ := quote(s)
		out, err := exec.Command("/bin/sh", "-c", "set -- "+q+" "+q+"; echo $#").Output()
		if err != nil || string(out) != "2\n" {
			t.Errorf("quote(%q) = %s: %q words, %v", s, q, out, err)
		}
	}
}

func TestQuoteRefusesNUL(t *testing.T) {
	for _, s := range []string{"\x00", "a\x00b", "'\x00'"} {
		if _, err := quote(s); !errors.Is(err, errNUL) {
			t.Errorf("quote(%q): %v; want errNUL", s, err)
		}
	}
}
