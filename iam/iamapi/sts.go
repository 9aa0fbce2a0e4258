package iamapi

import (
	"net/http"
	"strconv"

	"github.com/stockade/stockade/iam"
)

// NewSTS returns the STS Query handler: AssumeRole, GetCallerIdentity and
// DecodeAuthorizationMessage.
func NewSTS(svc *iam.Service, opts Options) (http.Handler, error) {
	if opts.Caller == nil {
		return nil, errNoCaller
	}
	return &handler{svc: svc, opts: opts, version: "2011-06-15", ns: STSNamespace, actions: map[string]action{
		"AssumeRole": assumeRole, "GetCallerIdentity": getCallerIdentity,
		"DecodeAuthorizationMessage": decodeAuthorizationMessage,
	}}, nil
}

func assumeRole(r *request) (any, error) {
	v, err := need(r, "RoleArn", "RoleSessionName")
	if err != nil {
		return nil, err
	}
	d, err := r.integer("DurationSeconds")
	if err != nil {
		return nil, err
	}
	if v, given := r.params["DurationSeconds"]; given && d < 900 {
		// given as 0: below the minimum, not the default
		return nil, iam.Invalid(v, "durationSeconds", "Member must have value greater than or equal to 900")
	}
	var arns []string
	for i := 1; ; i++ {
		a, ok := r.params["PolicyArns.member."+strconv.Itoa(i)+".arn"]
		if !ok {
			break
		}
		arns = append(arns, a)
	}
	got, err := r.svc.AssumeRole(r.Context(), r.caller, iam.AssumeRoleInput{RoleARN: v[0], SessionName: v[1],
		DurationSeconds: d, Policy: r.str("Policy"), PolicyArns: arns, Tags: r.tags(),
		ExternalID: r.str("ExternalId"), SourceIdentity: r.str("SourceIdentity")})
	if err != nil {
		return nil, err
	}
	type credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string
		SessionToken    string
		Expiration      string
	}
	out := struct {
		Credentials     credentials
		AssumedRoleUser struct {
			AssumedRoleID string `xml:"AssumedRoleId"`
			Arn           string
		}
		PackedPolicySize *int   `xml:",omitempty"`
		SourceIdentity   string `xml:",omitempty"`
	}{Credentials: credentials{got.Credentials.AccessKeyID, got.Credentials.SecretAccessKey, got.Credentials.SessionToken,
		timestamp(got.Credentials.Expiration)}, SourceIdentity: r.str("SourceIdentity")}
	out.AssumedRoleUser.AssumedRoleID, out.AssumedRoleUser.Arn = got.AssumedRoleID, got.ARN
	if got.PackedPolicySize >= 0 {
		out.PackedPolicySize = &got.PackedPolicySize
	}
	return out, nil
}

func getCallerIdentity(r *request) (any, error) {
	id := iam.GetCallerIdentity(r.caller)
	return struct {
		UserID  string `xml:"UserId"`
		Account string
		Arn     string
	}{id.UserID, id.Account, id.ARN}, nil
}

func decodeAuthorizationMessage(r *request) (any, error) {
	msg, err := r.required("EncodedMessage")
	if err != nil {
		return nil, err
	}
	out, err := r.svc.DecodeAuthorizationMessage(r.caller, msg)
	if err != nil {
		return nil, err
	}
	return struct{ DecodedMessage string }{out}, nil
}
