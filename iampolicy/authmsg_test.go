package iampolicy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestAuthorizationMessageRoundTrip(t *testing.T) {
	c := compileAlice(t, strings.Replace(devIngress, `"Resource": "*"}]`, `"Resource": "*"}, `+mfaDeny+`]`, 1))
	req := aliceRequest(authIngr, "10.1.2.3", sgResource("sg-0aaa00000000000a1"))
	d, tr := c.Explain(req)
	key := make([]byte, 32)
	key[0] = 7
	now := time.Date(2025, 3, 4, 10, 15, 30, 0, time.UTC)
	blob, err := EncodeMessage(key, acct, NewAuthorizationMessage(req, d, tr, "AIDAALICE", "alice"), now)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeMessage(key, acct, blob, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var m AuthorizationMessage
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if m.Allowed || !m.ExplicitDeny || m.Context.Action != authIngr || m.Context.Principal.ARN != aliceARN ||
		len(m.MatchedStatements.Items) != 2 || m.MatchedStatements.Items[0].Effect != "DENY" || m.MatchedStatements.Items[1].StatementID != "DevIngressFromCorp" {
		t.Errorf("decoded %s", out)
	}
	if !strings.Contains(out, `"key":"aws:resourcetag/env","values":{"items":[{"value":"dev"}]}`) {
		t.Errorf("context conditions missing from %s", out)
	}
	tampered := []byte(blob)
	tampered[10] ^= 1
	for name, fn := range map[string]func() (string, error){
		"other account": func() (string, error) { return DecodeMessage(key, "444455556666", blob, now) },
		"expired":       func() (string, error) { return DecodeMessage(key, acct, blob, now.Add(25*time.Hour)) },
		"tampered":      func() (string, error) { return DecodeMessage(key, acct, string(tampered), now) },
		"garbage":       func() (string, error) { return DecodeMessage(key, acct, "!!", now) },
		"other key":     func() (string, error) { return DecodeMessage(make([]byte, 32), acct, blob, now) },
	} {
		if _, err := fn(); err != ErrInvalidMessage {
			t.Errorf("%s: err %v, want ErrInvalidMessage", name, err)
		}
	}
	if got := d.EC2DenialMessage(aliceARN, authIngr, blob); !strings.HasPrefix(got,
		"You are not authorized to perform this operation. User: "+aliceARN+" is not authorized to perform: "+authIngr+
			" on resource: arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0aaa00000000000a1 with an explicit deny in an identity-based policy. Encoded authorization failure message: ") {
		t.Errorf("EC2 message %q", got)
	}
}

// TestAuthorizationMessageNotAnOption: no encoded message starts with '-', which the AWS CLI
// would take for an option (`--encoded-message BLOB` failed once in 64 messages).
func TestAuthorizationMessageNotAnOption(t *testing.T) {
	key := make([]byte, 32)
	now := time.Date(2025, 3, 4, 10, 15, 30, 0, time.UTC)
	for range 2000 {
		blob, err := EncodeMessage(key, acct, AuthorizationMessage{}, now)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(blob, "-") {
			t.Fatalf("message %q starts with '-'", blob)
		}
		if _, err := DecodeMessage(key, acct, blob, now); err != nil {
			t.Fatal(err)
		}
	}
}
