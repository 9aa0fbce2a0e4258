package iam

import (
	"crypto/rand"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// ID prefixes (§4.3; https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html).
// Unique IDs are 21 characters, access key IDs 20, secrets 40.
const (
	prefixUser      = "AIDA"
	prefixRole      = "AROA"
	prefixGroup     = "AGPA"
	prefixPolicy    = "ANPA"
	prefixAccessKey = "AKIA"
	prefixSession   = "ASIA"
)

const (
	idAlphabet     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" // upper case and digits [STOCKADE]
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// randomString draws n characters of alphabet from r. The alphabets have 32 or 64 letters, so
// masking a byte is uniform.
func randomString(r io.Reader, alphabet string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}

func (s *Service) newID(prefix string, n int) (string, error) {
	rest, err := randomString(s.rand(), idAlphabet, n-len(prefix))
	return prefix + rest, err
}

func (s *Service) rand() io.Reader {
	if s.cfg.Rand != nil {
		return s.cfg.Rand
	}
	return rand.Reader
}

var namePattern = regexp.MustCompile(`^[\w+=,.@-]+$`)

// checkName checks an entity name against IAM's pattern [\w+=,.@-]+ and its length; field is
// the member name in AWS's validation messages ("userName").
func checkName(name, field string, max int) *Error {
	switch {
	case name == "":
		return validation(name, field, "Member must have length greater than or equal to 1")
	case len(name) > max:
		return validation(name, field, "Member must have length less than or equal to "+itoa(max))
	case !namePattern.MatchString(name):
		return validation(name, field, `Member must satisfy regular expression pattern: [\w+=,.@-]+`)
	}
	return nil
}

// checkPath applies IAM's path rule: "/" or "/…/" of printable ASCII, at most 512 characters.
// An empty path is the default "/".
func checkPath(path, field string) (string, *Error) {
	if path == "" {
		return "/", nil
	}
	if len(path) > 512 {
		return "", validation(path, field, "Member must have length less than or equal to 512")
	}
	ok := strings.HasPrefix(path, "/") && strings.HasSuffix(path, "/")
	for _, c := range path {
		if c < 0x21 || c > 0x7e {
			ok = false
		}
	}
	if !ok {
		return "", validation(path, field, `Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)`)
	}
	return path, nil
}

// key is the case-insensitive identity of a name: IAM names are unique per account regardless
// of case (documented for users; applied to every entity [UNCONFIRMED for the others]).
func key(name string) string { return strings.ToLower(name) }

// policySize is a document's size as IAM's quotas count it: whitespace does not count.
func policySize(doc string) int {
	n := 0
	for _, c := range doc {
		if !unicode.IsSpace(c) {
			n++
		}
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }

// ARNs (§4.3). The partition is always aws [STOCKADE].
func arn(account, kind, path, name string) string {
	return "arn:aws:iam::" + account + ":" + kind + path + name
}

// RootARN is an account's root user.
func RootARN(account string) string { return "arn:aws:iam::" + account + ":root" }

// AWSPolicyPrefix begins the ARNs of the built-in AWS-managed policies.
const AWSPolicyPrefix = "arn:aws:iam::aws:policy"
