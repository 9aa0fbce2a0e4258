package model

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// Resource ID prefixes (spec §1.1).
const (
	PrefixVPC          = "vpc"
	PrefixVPCCidrAssoc = "vpc-cidr-assoc"
	PrefixSubnet       = "subnet"
	PrefixGroup        = "sg"
	PrefixRule         = "sgr"
	PrefixENI          = "eni"
	PrefixAttachment   = "eni-attach"
	PrefixInstance     = "i"
	PrefixReservation  = "r"
	PrefixNACL         = "acl"
	PrefixNACLAssoc    = "aclassoc"
	PrefixPrefixList   = "pl"
	PrefixKeyPair      = "key"
	PrefixFlowLog      = "fl"
	PrefixDhcpOptions  = "dopt"
	PrefixRouteTable   = "rtb"
	PrefixRTBAssoc     = "rtbassoc"
	PrefixIGW          = "igw"
	PrefixEgressIGW    = "eigw"
	PrefixInsightsPath = "nip"
	PrefixAnalysis     = "nia"
	PrefixAllocation   = "eipalloc"
	PrefixEIPAssoc     = "eipassoc"
	PrefixNATGateway   = "nat"
)

// NewID returns a fresh "<prefix>-<17 lower-case hex digits>" ID, the form AWS has issued
// since 2018. The 68 random bits make collisions negligible; callers that must be unique
// anyway (the control service) still check.
func NewID(prefix string) string {
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the kernel's CSPRNG does not fail
	}
	h := hex.EncodeToString(b[:])
	return prefix + "-" + h[:17]
}

// ValidID reports whether s is "<prefix>-" followed by 8 or 17 lower-case hex digits: old
// 8-digit IDs still exist on AWS, so parsers accept both (spec §1.1).
func ValidID(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"-")
	if !ok || (len(rest) != 8 && len(rest) != 17) {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// IDPrefix returns the resource prefix of an ID ("sg" for "sg-0123…"), handling the
// multi-part prefixes (eni-attach, vpc-cidr-assoc), or "" when s has no known prefix.
func IDPrefix(s string) string {
	for _, p := range []string{PrefixVPCCidrAssoc, PrefixAttachment, PrefixNACLAssoc} {
		if strings.HasPrefix(s, p+"-") {
			return p
		}
	}
	if i := strings.IndexByte(s, '-'); i > 0 {
		return s[:i]
	}
	return ""
}
