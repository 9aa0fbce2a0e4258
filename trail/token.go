package trail

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// tokenLifetime is how long a NextToken stays valid (§2.5: at least 24 h).
const tokenLifetime = 24 * time.Hour

// token is a NextToken's content (§2.5 [STOCKADE]): the hash of the parameters it is valid
// with, the position after which the next page starts, and when it was issued. It travels
// as base64url(JSON) "." base64url(HMAC-SHA256), so a client can neither forge a position
// nor move a token to other parameters.
type token struct {
	Filter string `json:"f"`
	Cursor string `json:"c"`
	Issued int64  `json:"i"`
}

// filterHash identifies the parameters a token is valid with: everything but MaxResults (a
// client may change its page size) and NextToken itself. Times are hashed as sent, so that a
// defaulted EndTime ("now") does not change between pages.
func filterHash(sc Scope, req *lookupRequest) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q", sc.Account, sc.Region)
	for _, a := range req.LookupAttributes {
		fmt.Fprintf(h, " %q=%q", deref(a.AttributeKey), deref(a.AttributeValue))
	}
	for _, t := range []*float64{req.StartTime, req.EndTime} {
		if t == nil {
			h.Write([]byte(" -"))
		} else {
			fmt.Fprintf(h, " %v", *t)
		}
	}
	fmt.Fprintf(h, " %q", deref(req.EventCategory))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

func deref(s *string) string {
	if s == nil {
		return "\x00"
	}
	return *s
}

func (l *Lookup) sealToken(cursor, filter string, now time.Time) string {
	payload, _ := json.Marshal(token{Filter: filter, Cursor: cursor, Issued: now.Unix()})
	mac := hmac.New(sha256.New, l.key)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// openToken returns the cursor of a token this Lookup issued for filter, not expired.
func (l *Lookup) openToken(s, filter string, now time.Time) (string, bool) {
	p, m, ok := strings.Cut(s, ".")
	if !ok {
		return "", false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	sum, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil {
		return "", false
	}
	mac := hmac.New(sha256.New, l.key)
	mac.Write(payload)
	if !hmac.Equal(sum, mac.Sum(nil)) {
		return "", false
	}
	var t token
	if json.Unmarshal(payload, &t) != nil || t.Filter != filter || !validCursor(t.Cursor) {
		return "", false
	}
	issued := time.Unix(t.Issued, 0)
	if now.Sub(issued) > tokenLifetime || issued.After(now.Add(time.Minute)) {
		return "", false
	}
	return t.Cursor, true
}

// validCursor: TIME/EVENTID with a 12-digit time, as cursorOf makes them.
func validCursor(c string) bool {
	tk, id, ok := strings.Cut(c, "/")
	if !ok || len(tk) != 12 || id == "" || strings.Contains(id, "/") {
		return false
	}
	for _, r := range tk {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// bucket is one account-and-region token bucket of the LookupEvents throttle.
type bucket struct {
	tokens float64
	at     time.Time
}

// allow takes a token from sc's bucket; false is ThrottlingException.
func (l *Lookup) allow(sc Scope) bool {
	if l.rate < 0 {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[sc]
	if !ok {
		b = &bucket{tokens: l.cap, at: now}
		l.buckets[sc] = b
	}
	if d := now.Sub(b.at).Seconds(); d > 0 {
		b.tokens = min(l.cap, b.tokens+d*l.rate)
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
