package trail

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"time"
	"unicode/utf8"
)

// Service is the AWS service a call belongs to; its value is the record's eventSource.
type Service string

const (
	EC2        Service = "ec2.amazonaws.com"
	IAM        Service = "iam.amazonaws.com"
	STS        Service = "sts.amazonaws.com"
	CloudTrail Service = "cloudtrail.amazonaws.com"
	Events     Service = "events.amazonaws.com"
	S3         Service = "s3.amazonaws.com"
	Logs       Service = "logs.amazonaws.com"
)

// Failure is a call's error as the client received it: the wire code and message, and
// whether it was the server's fault (HTTP 5xx) rather than the client's.
type Failure struct {
	Code, Message string
	Server        bool
}

// Call is one finished API call, everything Build needs. The caller fills it after the
// action has answered (eventTime is when the request completed, §1.1).
type Call struct {
	Service Service
	Action  string // exactly as sent
	// Params are the Query parameters as received (EC2, IAM, STS); protocol and SigV4
	// parameters among them are ignored.
	Params url.Values
	// JSONParams is the request body of a JSON-protocol call (CloudTrail); recorded as sent.
	JSONParams json.RawMessage
	// Response is the body of a successful response: the XML of a Query call. Ignored for
	// failures, read-only actions and JSON-protocol calls (responseElements is null then).
	Response []byte
	Err      *Failure // nil on success

	Identity  Identity
	SourceIP  string
	UserAgent string // the User-Agent header; "" when absent
	Region    string // the SigV4 scope's region; IAM events are recorded in us-east-1 whatever it is
	RequestID string
	Time      time.Time
	TLS       *TLSDetails

	// Resources is the record's resources field; nil gives STS AssumeRole's role (§1.1)
	// from its RoleArn.
	Resources []ARNResource
	// Lookup adds LookupEvents resources to those Build finds itself (security groups, rules
	// and VPCs named in the parameters or the response), for IAM entities for instance.
	Lookup []Resource
	// EventID is for tests; "" gives a fresh random UUID, as it must be in production.
	EventID string
}

// Limits of §1.1.
const (
	maxUserAgent = 1024
	maxMessage   = 1024
	maxElements  = 100 * 1024
)

// Build makes the record of c. It fails only for a response body that is not XML, which is a
// bug of the caller's; the record is then still returned, with responseElements null.
func Build(c Call) (*Record, error) {
	t := c.Time.UTC().Truncate(time.Second)
	r := &Record{
		EventVersion:       EventVersion,
		UserIdentity:       c.Identity.userIdentity(),
		EventTime:          t.Format(time.RFC3339),
		EventSource:        string(c.Service),
		EventName:          c.Action,
		AWSRegion:          c.Region,
		SourceIPAddress:    c.SourceIP,
		UserAgent:          truncate(c.UserAgent, maxUserAgent),
		RequestID:          c.RequestID,
		EventID:            c.EventID,
		ReadOnly:           IsReadOnly(c.Action),
		Resources:          c.Resources,
		EventType:          "AwsApiCall",
		ManagementEvent:    true,
		RecipientAccountID: c.Identity.AccountID,
		EventCategory:      "Management",
		TLSDetails:         c.TLS,
		Time:               t,
		Username:           c.Identity.Username(),
		RequestParameters:  json.RawMessage("null"),
		ResponseElements:   json.RawMessage("null"),
	}
	if c.Service == IAM {
		r.AWSRegion = "us-east-1" // global-service events land there (§1.1)
	}
	if r.EventID == "" {
		r.EventID = newUUID()
	}
	if c.Err != nil {
		r.ErrorCode, r.ErrorMessage = errorCode(c.Service, c.Err), truncate(c.Err.Message, maxMessage)
	}

	found := func(res Resource) { r.reqFound = append(r.reqFound, res) }
	switch {
	case c.JSONParams != nil:
		r.RequestParameters = capped(c.JSONParams)
	case len(c.Params) > 0 && (c.Service == IAM || c.Service == STS):
		// A call without parameters (GetCallerIdentity) records null, not {} [OBSERVED].
		if js, members := dottedJSON(c.Params, memberLists, c.Service, found); members > 0 {
			r.RequestParameters = js
		}
	case len(c.Params) > 0:
		var shaped bool
		if r.RequestParameters, shaped = shapedParams(c.Action, c.Params, found); !shaped {
			r.RequestParameters, _ = dottedJSON(c.Params, ec2Lists, c.Service, found)
		}
	}
	if c.Service == STS && c.Action == "AssumeRole" && r.Resources == nil {
		r.Resources = assumedRole(c.Params) // failed calls too: the role asked for [UNCONFIRMED]
	}
	err := r.addResponse(c)
	return r, err
}

// WithResponse is Build(c) for a call whose record r was built before its response existed
// (a change's staged record, Pending): the request's half is r's, only the response's is
// built. A change's record is built twice otherwise, and the request's half is most of the
// work. c must be the call r was built from, with its response and without an error; r is not
// changed.
func (r *Record) WithResponse(c Call) (*Record, error) {
	out := *r
	out.json, out.outbox = nil, ""
	err := out.addResponse(c)
	if r.json != nil && (r.ResponseElements == nil || string(r.ResponseElements) == "null") {
		// Only responseElements differs in the JSON (Lookup is kept beside it): r's JSON
		// with its null replaced, byte-equal to appendRecord's (TestWithResponseIsBuild).
		const null = len("null")
		resp := out.ResponseElements // built by addResponse: in appendRaw's form already
		if resp == nil {
			resp = json.RawMessage("null")
		}
		js := make([]byte, 0, len(r.json)-null+len(resp))
		js = append(js, r.json[:r.respAt]...)
		js = append(js, resp...)
		out.json, out.respAt = append(js, r.json[r.respAt+null:]...), r.respAt
	}
	return &out, err
}

// addResponse sets r's responseElements and LookupEvents resources from c's response (none
// for a failure, a read, or a JSON-protocol call). An EC2 reply is written as JSON as it is
// read (ec2ResponseJSON); the tree path takes what that does not convert, and IAM's and STS's.
func (r *Record) addResponse(c Call) error {
	var found []Resource
	var err error
	if takesResponse(&c) && len(c.Response) > 0 {
		add := func(res Resource) { found = append(found, res) }
		js, fast := []byte(nil), false
		if c.Service == EC2 {
			js, fast = ec2ResponseJSON(nil, c.Response, c.Action, add)
		}
		if fast {
			r.ResponseElements = js
		} else {
			var resp object
			if resp, err = responseElements(c.Response); err == nil {
				if _, wrapped := wrappedShapes[c.Action]; wrapped {
					resp = object{{c.Action + "Response", resp}}
				}
				if c.Service == IAM || c.Service == STS {
					resp = memberResponse(resp)
				}
				if resp != nil {
					r.ResponseElements = marshalCapped(resp)
					resourcesIn(c.Service, resp, add)
				}
			}
		}
	}
	r.Lookup = lookupResources(c.Lookup, r.reqFound, found)
	return err
}

// takesResponse reports whether c's record takes anything from its reply: a success's, of a
// change (or of AssumeRole), in the Query protocol.
func takesResponse(c *Call) bool {
	return c.Err == nil && (!IsReadOnly(c.Action) || readOnlyWithResponse[c.Action]) && c.JSONParams == nil
}

// readOnlyWithResponse are read-only actions whose record still carries responseElements:
// AssumeRole's records show the issued credentials, less the secret [OBSERVED].
var readOnlyWithResponse = map[string]bool{"AssumeRole": true}

// errorCode is §1.4's errorCode: EC2 prefixes the wire code with the fault's side; IAM, STS
// and the JSON services log it bare. Server.* is [UNCONFIRMED].
func errorCode(s Service, f *Failure) string {
	if s != EC2 {
		return f.Code
	}
	if f.Server {
		return "Server." + f.Code
	}
	return "Client." + f.Code
}

// marshalCapped encodes requestParameters or responseElements under the 100 KB cap. Beyond
// it the field is null [STOCKADE]: cutting JSON short would make the record unreadable, and
// a consumer looking for a key finds it in neither.
func marshalCapped(o object) json.RawMessage {
	b, ok := appendJSON(make([]byte, 0, 512), o) // most requests' and replies' fit: no regrowth
	if !ok || len(b) > maxElements {             // appendJSON's output is valid JSON by construction
		return json.RawMessage("null")
	}
	return json.RawMessage(b)
}

func capped(b []byte) json.RawMessage {
	if len(b) > maxElements || !json.Valid(b) {
		return json.RawMessage("null")
	}
	return json.RawMessage(b)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}
