// Package sigv4 verifies AWS Signature Version 4 on incoming requests (spec §10), in the
// Authorization header or presigned query form, the way EC2 answers: AuthFailure (401) for a
// bad signature or unknown key, MissingParameter for an unsigned request, IncompleteSignature
// for a garbled one, RequestExpired for a stale one. It trusts whatever headers the client
// signed (SignedHeaders), hashes the raw body, and compares in constant time.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	algorithm      = "AWS4-HMAC-SHA256"
	timeFormat     = "20060102T150405Z"
	dateFormat     = "20060102"
	unsignedBody   = "UNSIGNED-PAYLOAD"
	authFailureMsg = "AWS was not able to validate the provided access credentials"
)

// Error is a verification failure carrying the EC2 error code to return.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func authFailure() *Error { return &Error{"AuthFailure", authFailureMsg} }

// Credential is what a signature names: the access key and the parts of its scope.
type Credential struct {
	AccessKeyID string
	Date        string
	Region      string
	Service     string
}

// SecretFunc returns the secret key of an access key ID.
type SecretFunc func(accessKeyID string) (secret string, ok bool)

// Verifier checks signatures. Its zero value is not usable: Secret is required.
type Verifier struct {
	Secret SecretFunc
	// Services are the accepted scope services, e.g. ec2 and sts; empty accepts any.
	Services []string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// MaxSkew is the accepted clock difference (0: 5 minutes).
	MaxSkew time.Duration

	keys keyCache
}

// signed is a parsed signature, in either form.
type signed struct {
	cred          Credential
	signedHeaders string
	signature     string
	amzDate       string
	expires       int64 // presigned only, seconds
	presigned     bool
}

// Identify reads the credential a request is signed with, without checking the signature or
// its time. It serves the emulator mode, which accepts any credentials.
func Identify(r *http.Request) (Credential, error) {
	s, err := parse(r)
	if err != nil {
		return Credential{}, err
	}
	return s.cred, nil
}

// Verify authenticates r, whose raw body has been read into body.
func (v *Verifier) Verify(r *http.Request, body []byte) (Credential, error) {
	s, err := parse(r)
	if err != nil {
		return Credential{}, err
	}
	if err := v.checkScope(s); err != nil {
		return Credential{}, err
	}
	secret, ok := v.Secret(s.cred.AccessKeyID)
	if !ok {
		return Credential{}, authFailure()
	}
	if r.Header.Get("X-Amz-Security-Token") != "" || r.URL.Query().Get("X-Amz-Security-Token") != "" {
		return Credential{}, &Error{"AuthFailure", "Temporary credentials (a security token) are not supported by this server; sign with an account's access key"}
	}
	if !hasHeader(s.signedHeaders, "host") {
		return Credential{}, &Error{"AuthFailure", "The host header must be signed"}
	}
	hashes, err := payloadHashes(r, body, s.presigned)
	if err != nil {
		return Credential{}, err
	}
	key := v.keys.get(secret, s.cred)
	for _, h := range hashes {
		want := signature(key, stringToSign(s, canonicalRequest(r, s, h)))
		if hmac.Equal([]byte(want), []byte(s.signature)) {
			return s.cred, nil
		}
	}
	return Credential{}, authFailure()
}

func (v *Verifier) checkScope(s signed) error {
	if len(v.Services) > 0 && !contains(v.Services, s.cred.Service) {
		return &Error{"AuthFailure", "Credential should be scoped to a valid service: " + strings.Join(v.Services, ", ")}
	}
	t, err := time.Parse(timeFormat, s.amzDate)
	if err != nil {
		return &Error{"IncompleteSignature", "X-Amz-Date must be in the ISO 8601 basic format yyyyMMddTHHmmssZ"}
	}
	if t.Format(dateFormat) != s.cred.Date {
		return &Error{"AuthFailure", "Credential should be scoped to a valid date: " + t.Format(dateFormat)}
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew == 0 {
		skew = 5 * time.Minute
	}
	n := now()
	if s.presigned {
		if s.expires < 1 || s.expires > 604800 {
			return &Error{"AuthFailure", "X-Amz-Expires must be between 1 and 604800 seconds"}
		}
		if n.After(t.Add(time.Duration(s.expires) * time.Second)) {
			return &Error{"RequestExpired", "Request has expired."}
		}
		if t.After(n.Add(skew)) {
			return &Error{"AuthFailure", "Signature not yet current: " + s.amzDate + " is still later than " + n.UTC().Format(timeFormat)}
		}
		return nil
	}
	switch {
	case t.Before(n.Add(-skew)):
		return &Error{"RequestExpired", "Request has expired."}
	case t.After(n.Add(skew)):
		return &Error{"AuthFailure", "Signature not yet current: " + s.amzDate + " is still later than " + n.UTC().Format(timeFormat)}
	}
	return nil
}

// parse finds the signature in the Authorization header or the presigned query parameters.
func parse(r *http.Request) (signed, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		s, err := parseAuthorization(h)
		if err != nil {
			return s, err
		}
		s.amzDate = r.Header.Get("X-Amz-Date")
		if s.amzDate == "" {
			d, err := http.ParseTime(r.Header.Get("Date"))
			if err != nil {
				return s, &Error{"IncompleteSignature", "The request must contain an X-Amz-Date or Date header"}
			}
			s.amzDate = d.UTC().Format(timeFormat)
		}
		return s, nil
	}
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") == "" {
		return signed{}, &Error{"MissingParameter", "The request must contain the parameter AWSAccessKeyId"}
	}
	if q.Get("X-Amz-Algorithm") != algorithm {
		return signed{}, &Error{"IncompleteSignature", "Unsupported signing algorithm " + q.Get("X-Amz-Algorithm") + "; use " + algorithm}
	}
	s := signed{presigned: true, signedHeaders: q.Get("X-Amz-SignedHeaders"), signature: q.Get("X-Amz-Signature"), amzDate: q.Get("X-Amz-Date")}
	var err error
	if s.cred, err = parseCredential(q.Get("X-Amz-Credential")); err != nil {
		return s, err
	}
	if s.expires, err = strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64); err != nil {
		return s, &Error{"IncompleteSignature", "X-Amz-Expires must be a number of seconds"}
	}
	if s.signedHeaders == "" || s.signature == "" || s.amzDate == "" {
		return s, &Error{"IncompleteSignature", "Presigned requests need X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Signature"}
	}
	return s, nil
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…".
func parseAuthorization(h string) (signed, error) {
	var s signed
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != algorithm {
		return s, &Error{"IncompleteSignature", "Unsupported Authorization scheme; use " + algorithm}
	}
	var cred string
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return s, &Error{"IncompleteSignature", "Authorization header is garbled: '" + strings.TrimSpace(part) + "' is not key=value"}
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			s.signedHeaders = v
		case "Signature":
			s.signature = v
		default:
			return s, &Error{"IncompleteSignature", "Authorization header has an unknown element " + k}
		}
	}
	for name, v := range map[string]string{"Credential": cred, "SignedHeaders": s.signedHeaders, "Signature": s.signature} {
		if v == "" {
			return s, &Error{"IncompleteSignature", "Authorization header requires '" + name + "' parameter."}
		}
	}
	var err error
	s.cred, err = parseCredential(cred)
	return s, err
}

func parseCredential(c string) (Credential, error) {
	p := strings.Split(c, "/")
	if len(p) != 5 || p[0] == "" || len(p[1]) != 8 || p[2] == "" || p[3] == "" || p[4] != "aws4_request" {
		return Credential{}, &Error{"IncompleteSignature", "Credential must be <access key>/<yyyymmdd>/<region>/<service>/aws4_request"}
	}
	return Credential{AccessKeyID: p[0], Date: p[1], Region: p[2], Service: p[3]}, nil
}

// payloadHashes are the body hashes to try: the client's X-Amz-Content-Sha256 when it sent
// one (checked against the body unless UNSIGNED-PAYLOAD), else the body's hash; a presigned
// request may also have been signed over UNSIGNED-PAYLOAD.
func payloadHashes(r *http.Request, body []byte, presigned bool) ([]string, error) {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		if h != unsignedBody && h != actual {
			return nil, &Error{"AuthFailure", "The provided X-Amz-Content-Sha256 header does not match what was computed"}
		}
		return []string{h}, nil
	}
	if presigned {
		return []string{actual, unsignedBody}, nil
	}
	return []string{actual}, nil
}

func canonicalRequest(r *http.Request, s signed, payloadHash string) string {
	var b strings.Builder
	b.Grow(256)
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(escape(path, true)) // non-S3 services encode the path twice
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, s.presigned))
	b.WriteByte('\n')
	for _, name := range strings.Split(s.signedHeaders, ";") {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headerValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(s.signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func headerValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		if vs := r.Header.Values("Content-Length"); len(vs) > 0 {
			vals = vs
		} else {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(name)
	}
	out := make([]string, len(vals)) // never write into the request's own header slices
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// canonicalQuery re-encodes every query parameter (RFC 3986) and sorts by name, then value.
func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var pairs []kv
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = unescape(k), unescape(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, kv{escape(k, false), escape(v, false)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// unescape decodes a query component ("+" is a space); malformed escapes stay as they are so
// that the signature, not the decoder, rejects the request.
func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// escape is RFC 3986 encoding: unreserved characters stay, everything else is %XX; slashes
// stay when keepSlash (paths).
func escape(s string, keepSlash bool) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdigits[c>>4])
		b.WriteByte(hexdigits[c&15])
	}
	return b.String()
}

func stringToSign(s signed, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + s.amzDate + "\n" + s.cred.Date + "/" + s.cred.Region + "/" + s.cred.Service + "/aws4_request\n" + hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func signingKey(secret string, c Credential) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), c.Date)
	k = hmacSHA256(k, c.Region)
	k = hmacSHA256(k, c.Service)
	return hmacSHA256(k, "aws4_request")
}

func signature(key []byte, sts string) string { return hex.EncodeToString(hmacSHA256(key, sts)) }

func hasHeader(list, name string) bool {
	for _, h := range strings.Split(list, ";") {
		if h == name {
			return true
		}
	}
	return false
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// keyCache keeps derived signing keys: four HMACs per request saved, keys change daily.
type keyCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *keyCache) get(secret string, cred Credential) []byte {
	id := secret + "\x00" + cred.Date + "\x00" + cred.Region + "\x00" + cred.Service
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.m[id]; ok {
		return k
	}
	if c.m == nil || len(c.m) >= 256 {
		c.m = map[string][]byte{}
	}
	k := signingKey(secret, cred)
	c.m[id] = k
	return k
}

// Sign signs r in the Authorization-header form over host, x-amz-date and, when present,
// content-type. It is for Stockade's own clients (benchmarks, tools); it shares the canonical
// form with Verify.
func Sign(r *http.Request, body []byte, accessKeyID, secret, region, service string, t time.Time) {
	amzDate := t.UTC().Format(timeFormat)
	r.Header.Set("X-Amz-Date", amzDate)
	headers := "host;x-amz-date"
	if r.Header.Get("Content-Type") != "" {
		headers = "content-type;host;x-amz-date"
	}
	s := signed{cred: Credential{accessKeyID, t.UTC().Format(dateFormat), region, service}, signedHeaders: headers, amzDate: amzDate}
	sum := sha256.Sum256(body)
	sig := signature(signingKey(secret, s.cred), stringToSign(s, canonicalRequest(r, s, hex.EncodeToString(sum[:]))))
	r.Header.Set("Authorization", algorithm+" Credential="+accessKeyID+"/"+s.cred.Date+"/"+region+"/"+service+"/aws4_request, SignedHeaders="+headers+", Signature="+sig)
}
