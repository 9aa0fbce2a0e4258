package trail

import (
	"encoding/json"
	"time"
)

// EventVersion is the record format version AWS currently writes (§1.1).
const EventVersion = "1.11"

// Record is one CloudTrail management event (trail-iam.md §1.1). Its JSON encoding is the
// record exactly as AWS writes it: field names, order, and which fields are omitted. Records
// are built by Build and never changed afterwards.
type Record struct {
	EventVersion       string          `json:"eventVersion"`
	UserIdentity       UserIdentity    `json:"userIdentity"`
	EventTime          string          `json:"eventTime"`
	EventSource        string          `json:"eventSource"`
	EventName          string          `json:"eventName"`
	AWSRegion          string          `json:"awsRegion"`
	SourceIPAddress    string          `json:"sourceIPAddress"`
	UserAgent          string          `json:"userAgent,omitempty"`
	ErrorCode          string          `json:"errorCode,omitempty"`
	ErrorMessage       string          `json:"errorMessage,omitempty"`
	RequestParameters  json.RawMessage `json:"requestParameters"`
	ResponseElements   json.RawMessage `json:"responseElements"`
	RequestID          string          `json:"requestID"`
	EventID            string          `json:"eventID"`
	ReadOnly           bool            `json:"readOnly"`
	Resources          []ARNResource   `json:"resources,omitempty"`
	EventType          string          `json:"eventType"`
	ManagementEvent    bool            `json:"managementEvent"`
	RecipientAccountID string          `json:"recipientAccountId"`
	EventCategory      string          `json:"eventCategory"`
	TLSDetails         *TLSDetails     `json:"tlsDetails,omitempty"`

	// Time is EventTime as a time, truncated to the second: the records' order in the store.
	Time time.Time `json:"-"`
	// Lookup lists the resources LookupEvents reports and filters on (§2.3's Resources); it
	// is stored beside the record, not in it.
	Lookup []Resource `json:"-"`
	// Username is LookupEvents' Username (§2.3), from the identity; stored beside the record.
	Username string `json:"-"`

	// outbox is the store key of the staged record this one completes (Completes): the
	// Recorder deletes it once this record is in the Log. "" for every other record.
	outbox string
	json   []byte // the record's JSON, once JSON has made it
	// respAt is where responseElements' value starts in json: WithResponse writes the
	// complete record's JSON as this one's with the value replaced, not all over again.
	respAt int
	// reqFound are the resources the request's parameters name, in order, kept for
	// WithResponse: LookupEvents' resources are those and the response's.
	reqFound []Resource
}

// JSON is the record's JSON encoding, as the Log keeps it and LookupEvents and exports give
// it; made once. A Record must not be changed after its first call.
func (r *Record) JSON() []byte {
	if r.json == nil {
		r.json, r.respAt = appendRecord(make([]byte, 0, r.sizeHint()), r)
	}
	return r.json
}

// sizeHint is about the length of r's JSON: its fixed part, what varies most, and a margin,
// so that appendRecord's buffer is not grown and copied on the way.
func (r *Record) sizeHint() int {
	return 1024 + len(r.RequestParameters) + len(r.ResponseElements) + len(r.UserAgent) + len(r.ErrorMessage)
}

// UserIdentity is the record's userIdentity (§1.2) for the three principals Stockade has.
type UserIdentity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId"`
	ARN            string          `json:"arn"`
	AccountID      string          `json:"accountId"`
	AccessKeyID    string          `json:"accessKeyId"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext is userIdentity.sessionContext of a role session (§1.2).
type SessionContext struct {
	SessionIssuer       SessionIssuer     `json:"sessionIssuer"`
	WebIDFederationData struct{}          `json:"webIdFederationData"`
	Attributes          SessionAttributes `json:"attributes"`
}

// SessionIssuer is the role a session was issued for; its ARN keeps the role's path.
type SessionIssuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

// SessionAttributes: creationDate in ISO 8601 extended form, as every real record has it
// (§1.2 [OBSERVED]); mfaAuthenticated the string "true" or "false", not a boolean.
type SessionAttributes struct {
	CreationDate     string `json:"creationDate"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

// ARNResource is one entry of the record's resources field (used by STS AssumeRole, §1.1).
type ARNResource struct {
	ARN       string `json:"ARN"`
	AccountID string `json:"accountId"`
	Type      string `json:"type"`
}

// Resource is one entry of LookupEvents' Resources (§2.3): a type such as
// AWS::EC2::SecurityGroup and a name such as sg-0a1b2c3d4e5f60718.
type Resource struct {
	ResourceType string `json:"ResourceType,omitempty"`
	ResourceName string `json:"ResourceName,omitempty"`
}

// TLSDetails is tlsDetails, present when the request came over TLS.
type TLSDetails struct {
	TLSVersion               string `json:"tlsVersion"`
	CipherSuite              string `json:"cipherSuite"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader"`
}

// Kind is one of the principals a record names (§1.2); the other types AWS has (FederatedUser,
// AWSService, …) never occur in Stockade.
type Kind string

const (
	Root        Kind = "Root"
	IAMUser     Kind = "IAMUser"
	AssumedRole Kind = "AssumedRole"
)

// Identity is who made a call, as plain facts the authentication layer knows; the record's
// ARNs and principal IDs are derived from them so that they are always consistent.
type Identity struct {
	Kind        Kind
	AccountID   string // 12 digits
	AccessKeyID string // the key that signed the request (AKIA…, ASIA…)

	// IAMUser: the user's unique ID (AIDA…), name and path ("/" or "/ops/").
	UserID, UserName, UserPath string

	// AssumedRole: the role's unique ID (AROA…), name, path, the session name, when the
	// session's credentials were issued and whether MFA was presented to get them.
	RoleID, RoleName, RolePath, SessionName string
	SessionIssued                           time.Time
	MFA                                     bool
}

func pathOrSlash(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// ARN is the principal's ARN as the record and denial messages write it: a role session's is
// the assumed-role ARN, which drops the role's path.
func (id Identity) ARN() string {
	switch id.Kind {
	case IAMUser:
		return "arn:aws:iam::" + id.AccountID + ":user" + pathOrSlash(id.UserPath) + id.UserName
	case AssumedRole:
		return "arn:aws:sts::" + id.AccountID + ":assumed-role/" + id.RoleName + "/" + id.SessionName
	default:
		return "arn:aws:iam::" + id.AccountID + ":root"
	}
}

// Username is what LookupEvents reports as Username (§2.3): the user name, root, or the role
// session name.
func (id Identity) Username() string {
	switch id.Kind {
	case IAMUser:
		return id.UserName
	case AssumedRole:
		return id.SessionName
	default:
		return "root"
	}
}

// userIdentity is the record's userIdentity for id.
func (id Identity) userIdentity() UserIdentity {
	u := UserIdentity{Type: string(id.Kind), ARN: id.ARN(), AccountID: id.AccountID, AccessKeyID: id.AccessKeyID}
	switch id.Kind {
	case IAMUser:
		u.PrincipalID, u.UserName = id.UserID, id.UserName
	case AssumedRole:
		u.PrincipalID = id.RoleID + ":" + id.SessionName
		mfa := "false"
		if id.MFA {
			mfa = "true"
		}
		u.SessionContext = &SessionContext{
			SessionIssuer: SessionIssuer{Type: "Role", PrincipalID: id.RoleID, AccountID: id.AccountID, UserName: id.RoleName,
				ARN: "arn:aws:iam::" + id.AccountID + ":role" + pathOrSlash(id.RolePath) + id.RoleName},
			Attributes: SessionAttributes{CreationDate: id.SessionIssued.UTC().Format(time.RFC3339), MFAAuthenticated: mfa},
		}
	default:
		u.Type, u.PrincipalID = string(Root), id.AccountID
	}
	return u
}
