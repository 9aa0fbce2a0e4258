package trail

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestAppendRecordMatchesEncodingJSON: a record's JSON is, for random records (every optional
// field present or not, strings with every character encoding/json escapes, raw parameters
// compact, spaced, with HTML metacharacters, U+2028 or non-ASCII text, and nil), exactly what
// json.Marshal writes for it.
func TestAppendRecordMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", " ", "\"", "\\", "<", ">", "&", "\n", "\x00", "\x7f", "é", "\u2028", "\xff", "😀", "sg-0123"}
	str := func() string {
		s := ""
		for range rng.IntN(5) {
			s += pieces[rng.IntN(len(pieces))]
		}
		return s
	}
	opt := func() string {
		if rng.IntN(2) == 0 {
			return ""
		}
		return str()
	}
	raws := []string{`{"groupId":"sg-1"}`, `{ "a" : [1, 2] }`, "{\n\t\"a\": \"x y\"\r\n}", `{"a":"<b>&"}`, `{"a":"\u2028"}`,
		"{\"a\":\"\u2028\"}", `{"a":"é"}`, `{"a":"\"quoted\" \\ back"}`, `null`, `{}`, `{"items":[{"n":-1.5e3},true,null]}`}
	raw := func() json.RawMessage {
		if rng.IntN(len(raws)+1) == 0 {
			return nil
		}
		return json.RawMessage(raws[rng.IntN(len(raws))])
	}
	for i := range 5000 {
		r := &Record{EventVersion: str(), EventTime: str(), EventSource: str(), EventName: str(), AWSRegion: str(),
			SourceIPAddress: str(), UserAgent: opt(), ErrorCode: opt(), ErrorMessage: opt(), RequestParameters: raw(),
			ResponseElements: raw(), RequestID: str(), EventID: str(), ReadOnly: rng.IntN(2) == 0, EventType: str(),
			ManagementEvent: rng.IntN(2) == 0, RecipientAccountID: str(), EventCategory: str(),
			UserIdentity: UserIdentity{Type: str(), PrincipalID: str(), ARN: str(), AccountID: str(), AccessKeyID: str(), UserName: opt()}}
		if rng.IntN(2) == 0 {
			r.UserIdentity.SessionContext = &SessionContext{
				SessionIssuer: SessionIssuer{Type: str(), PrincipalID: str(), ARN: str(), AccountID: str(), UserName: str()},
				Attributes:    SessionAttributes{CreationDate: str(), MFAAuthenticated: str()}}
		}
		for range rng.IntN(3) {
			r.Resources = append(r.Resources, ARNResource{ARN: str(), AccountID: str(), Type: str()})
		}
		if rng.IntN(2) == 0 {
			r.Resources = []ARNResource{} // empty, not nil: omitted all the same
		}
		if rng.IntN(2) == 0 {
			r.TLSDetails = &TLSDetails{TLSVersion: str(), CipherSuite: str(), ClientProvidedHostHeader: str()}
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("case %d: json.Marshal: %v", i, err)
		}
		if got := r.JSON(); string(got) != string(want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
