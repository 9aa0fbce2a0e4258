package trail

import (
	"encoding/json"
	"strconv"
)

// appendRecord appends r's JSON exactly as json.Marshal(r) writes it: the fields in the
// struct's order, omitempty where the tags say so, strings with encoding/json's escapes, and
// requestParameters/responseElements compacted and HTML-escaped as encoding/json does a
// json.RawMessage. Every call writes one record on the request path or in the Recorder;
// reflection and the re-compaction of the already compact parameters were the larger part of
// its cost. TestAppendRecordMatchesEncodingJSON holds the two encodings equal.
func appendRecord(b []byte, r *Record) ([]byte, int) {
	b = append(b, `{"eventVersion":`...)
	b = appendJSONString(b, r.EventVersion)
	b = append(b, `,"userIdentity":`...)
	b = appendUserIdentity(b, &r.UserIdentity)
	b = appendField(b, "eventTime", r.EventTime)
	b = appendField(b, "eventSource", r.EventSource)
	b = appendField(b, "eventName", r.EventName)
	b = appendField(b, "awsRegion", r.AWSRegion)
	b = appendField(b, "sourceIPAddress", r.SourceIPAddress)
	b = appendOmitEmpty(b, "userAgent", r.UserAgent)
	b = appendOmitEmpty(b, "errorCode", r.ErrorCode)
	b = appendOmitEmpty(b, "errorMessage", r.ErrorMessage)
	b = append(b, `,"requestParameters":`...)
	b = appendRaw(b, r.RequestParameters)
	b = append(b, `,"responseElements":`...)
	respAt := len(b)
	b = appendRaw(b, r.ResponseElements)
	b = appendField(b, "requestID", r.RequestID)
	b = appendField(b, "eventID", r.EventID)
	b = append(b, `,"readOnly":`...)
	b = strconv.AppendBool(b, r.ReadOnly)
	if len(r.Resources) > 0 {
		b = append(b, `,"resources":[`...)
		for i, res := range r.Resources {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"ARN":`...)
			b = appendJSONString(b, res.ARN)
			b = appendField(b, "accountId", res.AccountID)
			b = appendField(b, "type", res.Type)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendField(b, "eventType", r.EventType)
	b = append(b, `,"managementEvent":`...)
	b = strconv.AppendBool(b, r.ManagementEvent)
	b = appendField(b, "recipientAccountId", r.RecipientAccountID)
	b = appendField(b, "eventCategory", r.EventCategory)
	if t := r.TLSDetails; t != nil {
		b = append(b, `,"tlsDetails":{"tlsVersion":`...)
		b = appendJSONString(b, t.TLSVersion)
		b = appendField(b, "cipherSuite", t.CipherSuite)
		b = appendField(b, "clientProvidedHostHeader", t.ClientProvidedHostHeader)
		b = append(b, '}')
	}
	return append(b, '}'), respAt
}

func appendUserIdentity(b []byte, u *UserIdentity) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, u.Type)
	b = appendField(b, "principalId", u.PrincipalID)
	b = appendField(b, "arn", u.ARN)
	b = appendField(b, "accountId", u.AccountID)
	b = appendField(b, "accessKeyId", u.AccessKeyID)
	b = appendOmitEmpty(b, "userName", u.UserName)
	if s := u.SessionContext; s != nil {
		i := &s.SessionIssuer
		b = append(b, `,"sessionContext":{"sessionIssuer":{"type":`...)
		b = appendJSONString(b, i.Type)
		b = appendField(b, "principalId", i.PrincipalID)
		b = appendField(b, "arn", i.ARN)
		b = appendField(b, "accountId", i.AccountID)
		b = appendField(b, "userName", i.UserName)
		b = append(b, `},"webIdFederationData":{},"attributes":{"creationDate":`...)
		b = appendJSONString(b, s.Attributes.CreationDate)
		b = appendField(b, "mfaAuthenticated", s.Attributes.MFAAuthenticated)
		b = append(b, "}}"...)
	}
	return append(b, '}')
}

// appendField appends ,"key":"value"; key is one of the record's own names, which need no
// escaping.
func appendField(b []byte, key, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

func appendOmitEmpty(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendField(b, key, v)
}

// appendRaw appends raw JSON as encoding/json writes a json.RawMessage: nil as null, and
// otherwise compacted with <, >, &, U+2028 and U+2029 escaped. What Build makes is in that
// form already (appendJSON's output), and goes through a scan without a copy; anything else
// (a JSON-protocol body as the client sent it, with its spaces) is compacted by encoding/json.
func appendRaw(b []byte, raw json.RawMessage) []byte {
	if raw == nil {
		return append(b, "null"...)
	}
	if canonicalJSON(raw) {
		return append(b, raw...)
	}
	c, err := json.Marshal(raw)
	if err != nil { // not JSON: Build never makes such a field; write what encoding/json can
		return append(b, "null"...)
	}
	return append(b, c...)
}

// canonicalJSON reports, by one scan, that raw needs nothing of what encoding/json does to a
// RawMessage: no whitespace outside strings, and only ASCII without <, > and & (which rules
// out U+2028 and U+2029). It does not validate: raw is trusted to be JSON, as the fields Build
// makes are; the fallback validates.
func canonicalJSON(raw []byte) bool {
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case c >= 0x80 || c == '<' || c == '>' || c == '&':
			return false
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return !inString
}
