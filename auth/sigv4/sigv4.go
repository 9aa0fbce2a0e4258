// Package sigv4 verifies AWS Signature Version 4 on incoming requests (spec §10), in the
// Authorization header or presigned query form, the way EC2 answers: AuthFailure (401) for a
// bad signature or unknown key, MissingParameter for an unsigned request, IncompleteSignature
// for a garbled one, RequestExpired for a stale one. Every error also carries a Reason, so that
// a service with other codes (STS) can answer in its own words. It trusts whatever headers the
// client signed (SignedHeaders), hashes the raw body (never UNSIGNED-PAYLOAD when there is
// one), requires the scope to name the service called and a region of a closed set, and
// compares in constant time.
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
	algorithm    = "AWS4-HMAC-SHA256"
	timeFormat   = "20060102T150405Z"
	dateFormat   = "20060102"
	unsignedBody = "UNSIGNED-PAYLOAD"
	// AuthFailureMessage is EC2's message for a bad signature or an unknown key.
	AuthFailureMessage = "AWS was not able to validate the provided access credentials"
)

// Error is a verification failure carrying the EC2 error code to return and why.
type Error struct {
	Code    string
	Message string
	Reason  Reason
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Reason says what was wrong with a request, independently of any service's error codes.
type Reason int

const (
	// Malformed: the signature is garbled or incomplete (EC2 and STS: IncompleteSignature).
	Malformed Reason = iota
	// Unsigned: the request carries no signature at all.
	Unsigned
	// Expired: the signature is too old, or a presigned URL has expired.
	Expired
	// BadScope: the credential scope names another service, an unknown region or another
	// date, or the signature is dated in the future.
	BadScope
	// UnknownKey: the access key ID is not known, or a security token was sent.
	UnknownKey
	// BadSignature: the signature, body hash or signed headers do not match the request.
	BadSignature
)

func authFailure(r Reason, msg string) *Error { return &Error{"AuthFailure", msg, r} }

func malformed(msg string) *Error { return &Error{"IncompleteSignature", msg, Malformed} }

// Credential is what a signature names: the access key and the parts of its scope.
type Credential struct {
	AccessKeyID string
	Date        string
	Region      string
	Service     string
	// SessionToken is the X-Amz-Security-Token the request carries (header or presigned
	// query), "" when none; only a Verifier with a Credentials function accepts one.
	SessionToken string
}

// SecretFunc returns the secret key of an access key ID.
type SecretFunc func(accessKeyID string) (secret string, ok bool)

// CredentialsFunc returns the secret of an access key used with sessionToken ("" for a
// long-term key), or the error to answer with: an unknown key, a temporary key without its
// token, an expired session. The error is returned from Verify unchanged, so that each API
// maps it to its own code.
type CredentialsFunc func(accessKeyID, sessionToken string) (secret string, err error)

// Verifier checks signatures. Its zero value is not usable: Secret is required.
type Verifier struct {
	Secret SecretFunc
	// Credentials, when set, is used instead of Secret and admits temporary credentials (a
	// session token, STS's X-Amz-Security-Token): the token must then be a signed header, or
	// part of the signed query of a presigned URL, so that it cannot be swapped in transit.
	Credentials CredentialsFunc
	// Regions are the regions a credential scope may name (a closed set: a typo must not
	// reach the service as a region of its own); empty accepts any, for tests only.
	Regions []string
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

// Verify authenticates r, whose raw body has been read into body, as a call of service (the
// scope's service must name it: an sts signature does not call ec2, nor the reverse).
func (v *Verifier) Verify(r *http.Request, body []byte, service string) (Credential, error) {
	s, err := parse(r)
	if err != nil {
		return Credential{}, err
	}
	if err := v.checkScope(s, service); err != nil {
		return Credential{}, err
	}
	token := r.Header.Get("X-Amz-Security-Token")
	if s.presigned {
		token = r.URL.Query().Get("X-Amz-Security-Token")
	}
	var secret string
	if v.Credentials != nil {
		if token != "" && !s.presigned && !hasHeader(s.signedHeaders, "x-amz-security-token") {
			return Credential{}, authFailure(BadSignature, "The X-Amz-Security-Token header must be signed")
		}
		var err error
		if secret, err = v.Credentials(s.cred.AccessKeyID, token); err != nil {
			return Credential{}, err
		}
	} else {
		var ok bool
		if secret, ok = v.Secret(s.cred.AccessKeyID); !ok {
			return Credential{}, authFailure(UnknownKey, AuthFailureMessage)
		}
		if token != "" || r.Header.Get("X-Amz-Security-Token") != "" || r.URL.Query().Get("X-Amz-Security-Token") != "" {
			return Credential{}, authFailure(UnknownKey, "Temporary credentials (a security token) are not supported by this server; sign with an account's access key")
		}
	}
	s.cred.SessionToken = token
	if !hasHeader(s.signedHeaders, "host") {
		return Credential{}, authFailure(BadSignature, "The host header must be signed")
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
	return Credential{}, authFailure(BadSignature, AuthFailureMessage)
}

// CheckRegion refuses a region outside v.Regions with AWS's message. Its cost does not grow
// with the name's length beyond one comparison, and the message quotes at most a short prefix.
func (v *Verifier) CheckRegion(region string) error {
	if len(v.Regions) == 0 || (len(region) <= maxRegionLen && contains(v.Regions, region)) {
		return nil
	}
	return authFailure(BadScope, "Credential should be scoped to a valid region, not '"+clip(region)+"'.")
}

func (v *Verifier) checkScope(s signed, service string) error {
	if err := v.CheckRegion(s.cred.Region); err != nil {
		return err
	}
	if s.cred.Service != service {
		return authFailure(BadScope, "Credential should be scoped to correct service: '"+service+"'.")
	}
	t, err := time.Parse(timeFormat, s.amzDate)
	if err != nil {
		return malformed("X-Amz-Date must be in the ISO 8601 basic format yyyyMMddTHHmmssZ")
	}
	if t.Format(dateFormat) != s.cred.Date {
		return authFailure(BadScope, "Credential should be scoped to a valid date: "+t.Format(dateFormat))
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
	notYet := func() error {
		return authFailure(BadScope, "Signature not yet current: "+s.amzDate+" is still later than "+n.UTC().Format(timeFormat))
	}
	if s.presigned {
		if s.expires < 1 || s.expires > 604800 {
			return authFailure(Malformed, "X-Amz-Expires must be between 1 and 604800 seconds")
		}
		if n.After(t.Add(time.Duration(s.expires) * time.Second)) {
			return &Error{"RequestExpired", "Request has expired.", Expired}
		}
		if t.After(n.Add(skew)) {
			return notYet()
		}
		return nil
	}
	switch {
	case t.Before(n.Add(-skew)):
		return &Error{"RequestExpired", "Request has expired.", Expired}
	case t.After(n.Add(skew)):
		return notYet()
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
				return s, malformed("The request must contain an X-Amz-Date or Date header")
			}
			s.amzDate = d.UTC().Format(timeFormat)
		}
		return s, nil
	}
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") == "" {
		return signed{}, &Error{"MissingParameter", "The request must contain the parameter AWSAccessKeyId", Unsigned}
	}
	if q.Get("X-Amz-Algorithm") != algorithm {
		return signed{}, malformed("Unsupported signing algorithm " + clip(q.Get("X-Amz-Algorithm")) + "; use " + algorithm)
	}
	s := signed{presigned: true, signedHeaders: q.Get("X-Amz-SignedHeaders"), signature: q.Get("X-Amz-Signature"), amzDate: q.Get("X-Amz-Date")}
	var err error
	if s.cred, err = parseCredential(q.Get("X-Amz-Credential")); err != nil {
		return s, err
	}
	if s.expires, err = strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64); err != nil {
		return s, malformed("X-Amz-Expires must be a number of seconds")
	}
	if s.signedHeaders == "" || s.signature == "" || s.amzDate == "" {
		return s, malformed("Presigned requests need X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Signature")
	}
	return s, nil
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…".
func parseAuthorization(h string) (signed, error) {
	var s signed
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != algorithm {
		return s, malformed("Unsupported Authorization scheme; use " + algorithm)
	}
	var cred string
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return s, malformed("Authorization header is garbled: '" + clip(strings.TrimSpace(part)) + "' is not key=value")
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			s.signedHeaders = v
		case "Signature":
			s.signature = v
		default:
			return s, malformed("Authorization header has an unknown element " + clip(k))
		}
	}
	for name, v := range map[string]string{"Credential": cred, "SignedHeaders": s.signedHeaders, "Signature": s.signature} {
		if v == "" {
			return s, malformed("Authorization header requires '" + name + "' parameter.")
		}
	}
	var err error
	s.cred, err = parseCredential(cred)
	return s, err
}

func parseCredential(c string) (Credential, error) {
	var p [5]string // split by hand: a request's Credential is parsed on every call
	n := 0
	for part := range strings.SplitSeq(c, "/") {
		if n == len(p) {
			n++
			break
		}
		p[n] = part
		n++
	}
	if n != 5 || p[0] == "" || len(p[1]) != 8 || p[2] == "" || p[3] == "" || p[4] != "aws4_request" {
		return Credential{}, malformed("Credential must be <access key>/<yyyymmdd>/<region>/<service>/aws4_request")
	}
	return Credential{AccessKeyID: p[0], Date: p[1], Region: p[2], Service: p[3]}, nil
}

// payloadHashes are the body hashes the signature may cover: the client's X-Amz-Content-Sha256
// when it sent one (it must be the body's hash), else the body's hash. UNSIGNED-PAYLOAD would
// leave the body, where EC2 carries every parameter of a POST, unauthenticated: it is refused,
// except on a presigned request without a body (botocore presigns that way), where the signed
// URL holds the whole request.
func payloadHashes(r *http.Request, body []byte, presigned bool) ([]string, error) {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	h := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case h == unsignedBody && !(presigned && len(body) == 0):
		return nil, authFailure(BadSignature, "The request body must be signed: UNSIGNED-PAYLOAD is not accepted; sign the SHA-256 of the body")
	case h == unsignedBody:
		return []string{unsignedBody}, nil
	case h != "" && h != actual:
		return nil, authFailure(BadSignature, "The provided X-Amz-Content-Sha256 header does not match what was computed")
	case h == "" && presigned && len(body) == 0:
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
	if s.cred.Service == "s3" {
		b.WriteString(path) // S3 signs the path as sent, encoded once
	} else {
		b.WriteString(escape(path, true)) // non-S3 services encode the path twice
	}
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, s.presigned))
	b.WriteByte('\n')
	for name := range strings.SplitSeq(s.signedHeaders, ";") {
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
	parts := [...]string{algorithm, "\n", s.amzDate, "\n", s.cred.Date, "/", s.cred.Region, "/", s.cred.Service, "/aws4_request\n"}
	n := hex.EncodedLen(len(sum))
	for _, part := range parts {
		n += len(part)
	}
	var b strings.Builder
	b.Grow(n)
	for _, part := range parts {
		b.WriteString(part)
	}
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	b.Write(h[:])
	return b.String()
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
	for h := range strings.SplitSeq(list, ";") {
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
	s := signed{cred: Credential{AccessKeyID: accessKeyID, Date: t.UTC().Format(dateFormat), Region: region, Service: service}, signedHeaders: headers, amzDate: amzDate}
	sum := sha256.Sum256(body)
	sig := signature(signingKey(secret, s.cred), stringToSign(s, canonicalRequest(r, s, hex.EncodeToString(sum[:]))))
	r.Header.Set("Authorization", algorithm+" Credential="+accessKeyID+"/"+s.cred.Date+"/"+region+"/"+service+"/aws4_request, SignedHeaders="+headers+", Signature="+sig)
}
