package keypair

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"strings"

	"golang.org/x/crypto/ssh"
)

// PuTTY private key files, version 2, unencrypted: the public and private blobs in base64,
// authenticated by an HMAC-SHA1 whose key is SHA-1("putty-private-key-file-mac-key") when
// there is no passphrase.

func ppkRSA(key *rsa.PrivateKey, pub ssh.PublicKey, comment string) string {
	key.Precompute()
	var priv []byte
	priv = appendMPInt(priv, key.D)
	priv = appendMPInt(priv, key.Primes[0])
	priv = appendMPInt(priv, key.Primes[1])
	priv = appendMPInt(priv, new(big.Int).ModInverse(key.Primes[1], key.Primes[0])) // iqmp = q⁻¹ mod p
	return ppk(ssh.KeyAlgoRSA, pub.Marshal(), priv, comment)
}

func ppkEd25519(key ed25519.PrivateKey, pub ssh.PublicKey, comment string) string {
	return ppk(ssh.KeyAlgoED25519, pub.Marshal(), appendString(nil, key.Seed()), comment)
}

func ppk(alg string, pub, priv []byte, comment string) string {
	var mac []byte
	for _, f := range [][]byte{[]byte(alg), []byte("none"), []byte(comment), pub, priv} {
		mac = appendString(mac, f)
	}
	macKey := sha1.Sum([]byte("putty-private-key-file-mac-key"))
	h := hmac.New(sha1.New, macKey[:])
	h.Write(mac)
	var b strings.Builder
	b.WriteString("PuTTY-User-Key-File-2: " + alg + "\n")
	b.WriteString("Encryption: none\n")
	b.WriteString("Comment: " + comment + "\n")
	writeLines(&b, "Public-Lines", pub)
	writeLines(&b, "Private-Lines", priv)
	b.WriteString("Private-MAC: " + hex.EncodeToString(h.Sum(nil)) + "\n")
	return b.String()
}

func writeLines(b *strings.Builder, label string, blob []byte) {
	enc := base64.StdEncoding.EncodeToString(blob)
	var lines []string
	for len(enc) > 64 {
		lines = append(lines, enc[:64])
		enc = enc[64:]
	}
	lines = append(lines, enc)
	b.WriteString(label + ": " + itoa(len(lines)) + "\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// appendMPInt writes an SSH mpint: big-endian, with a leading zero byte when the high bit is set.
func appendMPInt(b []byte, n *big.Int) []byte {
	v := n.Bytes()
	if len(v) > 0 && v[0]&0x80 != 0 {
		v = append([]byte{0}, v...)
	}
	return appendString(b, v)
}
