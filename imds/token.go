package imds

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// MaxTokenTTL is the longest session a token may have: six hours, in seconds (EC2 guide
// "instance-metadata-v2-how-it-works").
const MaxTokenTTL = 21600

// A token is base64url(expiry ‖ nonce ‖ HMAC-SHA256(secret, instance ‖ expiry ‖ nonce)):
// the instance is in the MAC and not in the token, so a token minted for one instance is
// rejected by every other, and nothing needs storing. The nonce makes every token distinct.
const (
	tokenExpiryLen = 8
	tokenNonceLen  = 8
	tokenMACLen    = sha256.Size
	tokenLen       = tokenExpiryLen + tokenNonceLen + tokenMACLen
)

type tokens struct{ secret [32]byte }

func newTokens() *tokens {
	t := &tokens{}
	rand.Read(t.secret[:]) // never fails (crypto/rand)
	return t
}

func (t *tokens) mac(instance string, head []byte) []byte {
	m := hmac.New(sha256.New, t.secret[:])
	m.Write([]byte(instance))
	m.Write([]byte{0})
	m.Write(head)
	return m.Sum(nil)
}

// mint returns a token for instance that expires at expiry.
func (t *tokens) mint(instance string, expiry time.Time) string {
	b := make([]byte, tokenExpiryLen+tokenNonceLen, tokenLen)
	binary.BigEndian.PutUint64(b, uint64(expiry.UnixNano()))
	rand.Read(b[tokenExpiryLen:])
	b = append(b, t.mac(instance, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// valid reports whether tok was minted for instance by this server and has not expired at now.
func (t *tokens) valid(instance, tok string, now time.Time) bool {
	if len(tok) != base64.RawURLEncoding.EncodedLen(tokenLen) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != tokenLen {
		return false
	}
	head := b[:tokenExpiryLen+tokenNonceLen]
	if !hmac.Equal(b[len(head):], t.mac(instance, head)) {
		return false
	}
	expiry := time.Unix(0, int64(binary.BigEndian.Uint64(head)))
	return now.Before(expiry)
}
