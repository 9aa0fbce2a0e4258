// Package keypair makes and reads the key pairs behind EC2's CreateKeyPair and ImportKeyPair:
// RSA 2048 and ED25519 keys in PEM or PuTTY (.ppk) form, and AWS's fingerprints — the SHA-1
// of the PKCS#8 DER private key for created RSA keys, the MD5 of the public key DER for
// imported RSA keys, the base64 SHA-256 of the SSH public key for ED25519 (spec §9.6).
package keypair

import (
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// ErrFormat is wrapped by every Import failure due to the key's format; the API reports it as
// InvalidKeyPair.Format.
var ErrFormat = errors.New("key is not in valid OpenSSH public key format")

// Created is a freshly generated key pair. Material is the private key, returned to the caller
// once and never stored.
type Created struct {
	Material    string
	PublicKey   string // OpenSSH authorized_keys line
	Fingerprint string
	Type        string
}

// Imported is a parsed public key.
type Imported struct {
	PublicKey   string
	Fingerprint string
	Type        string
}

// Generate makes a key pair of keyType ("rsa", 2048 bits, or "ed25519") with its private key in
// format "pem" or "ppk"; comment goes into the key file where the format has one.
func Generate(keyType, format, comment string) (Created, error) {
	if format != "pem" && format != "ppk" {
		return Created{}, fmt.Errorf("key format %q: want pem or ppk", format)
	}
	switch keyType {
	case "rsa":
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return Created{}, err
		}
		pub, err := ssh.NewPublicKey(&key.PublicKey)
		if err != nil {
			return Created{}, err
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return Created{}, err
		}
		sum := sha1.Sum(pkcs8)
		c := Created{PublicKey: authorizedKey(pub), Fingerprint: colonHex(sum[:]), Type: "rsa"}
		if format == "pem" {
			c.Material = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
		} else {
			c.Material = ppkRSA(key, pub, comment)
		}
		return c, nil
	case "ed25519":
		pubKey, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Created{}, err
		}
		pub, err := ssh.NewPublicKey(pubKey)
		if err != nil {
			return Created{}, err
		}
		c := Created{PublicKey: authorizedKey(pub), Fingerprint: sha256Fingerprint(pub), Type: "ed25519"}
		if format == "pem" {
			block, err := ssh.MarshalPrivateKey(priv, comment)
			if err != nil {
				return Created{}, err
			}
			c.Material = string(pem.EncodeToMemory(block))
		} else {
			c.Material = ppkEd25519(priv, pub, comment)
		}
		return c, nil
	}
	return Created{}, fmt.Errorf("key type %q: want rsa or ed25519", keyType)
}

// Import parses a public key given as an OpenSSH authorized_keys line, an RFC 4716 ("SSH2")
// block, or — for RSA — base64 DER (SubjectPublicKeyInfo or PKCS#1).
func Import(material []byte) (Imported, error) {
	text := strings.TrimSpace(string(material))
	var pub ssh.PublicKey
	var err error
	switch {
	case strings.HasPrefix(text, "---- BEGIN SSH2 PUBLIC KEY ----"):
		pub, err = parseRFC4716(text)
	case strings.HasPrefix(text, "ssh-") || strings.HasPrefix(text, "ecdsa-"):
		pub, _, _, _, err = ssh.ParseAuthorizedKey([]byte(text))
	default:
		pub, err = parseDER(text)
	}
	if err != nil {
		return Imported{}, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	switch pub.Type() {
	case ssh.KeyAlgoRSA:
		rk := pub.(ssh.CryptoPublicKey).CryptoPublicKey().(*rsa.PublicKey)
		if bits := rk.N.BitLen(); bits != 1024 && bits != 2048 && bits != 4096 {
			return Imported{}, fmt.Errorf("%w: RSA keys must be 1024, 2048 or 4096 bits, not %d", ErrFormat, bits)
		}
		der, err := x509.MarshalPKIXPublicKey(rk)
		if err != nil {
			return Imported{}, err
		}
		sum := md5.Sum(der)
		return Imported{PublicKey: authorizedKey(pub), Fingerprint: colonHex(sum[:]), Type: "rsa"}, nil
	case ssh.KeyAlgoED25519:
		return Imported{PublicKey: authorizedKey(pub), Fingerprint: sha256Fingerprint(pub), Type: "ed25519"}, nil
	}
	return Imported{}, fmt.Errorf("%w: %s keys are not supported (use RSA or ED25519)", ErrFormat, pub.Type())
}

func parseRFC4716(text string) (ssh.PublicKey, error) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var body strings.Builder
	cont := false
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "---- END SSH2 PUBLIC KEY ----"):
			blob, err := base64.StdEncoding.DecodeString(body.String())
			if err != nil {
				return nil, err
			}
			return ssh.ParsePublicKey(blob)
		case cont || strings.Contains(l, ":"):
			cont = strings.HasSuffix(l, `\`) // header lines may continue
		default:
			body.WriteString(l)
		}
	}
	return nil, errors.New("RFC 4716 block without its END line")
}

func parseDER(text string) (ssh.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
	if err != nil {
		return nil, errors.New("not an OpenSSH public key, an RFC 4716 block or base64 DER")
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		return ssh.NewPublicKey(k)
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return ssh.NewPublicKey(k)
	}
	return nil, errors.New("base64 text that is not a DER public key")
}

func authorizedKey(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

func colonHex(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i > 0 {
			s.WriteByte(':')
		}
		fmt.Fprintf(&s, "%02x", c)
	}
	return s.String()
}

// sha256Fingerprint is the base64 (padded) SHA-256 of the SSH wire-format public key, as EC2
// reports ED25519 fingerprints.
func sha256Fingerprint(pub ssh.PublicKey) string {
	sum := sha256.Sum256(pub.Marshal())
	return base64.StdEncoding.EncodeToString(sum[:])
}
