package authz

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/trail"
)

// This file records IAM and STS calls in the change trail (package trail, trail-iam.md §1),
// as ec2api/trail.go does for EC2: a write stages its record in its own store transaction
// through store.WithJournal (which iam honours), and the complete record (with responseElements) follows through
// the Recorder once the reply is written; a read, a failure or a denial is recorded through
// the Recorder only. Calls that fail authentication are not recorded: they have no
// trustworthy identity (§1.4 [STOCKADE]); nor are calls naming no action the service has,
// which reach no handler.

// TrailIdentity is who p is, as the trail records it (§1.2).
func TrailIdentity(p iam.Principal) trail.Identity {
	id := trail.Identity{AccountID: p.Account, AccessKeyID: p.AccessKeyID}
	switch p.Kind {
	case iam.UserPrincipal:
		id.Kind, id.UserID, id.UserName = trail.IAMUser, p.UserID, p.UserName
		id.UserPath = pathIn(p.ARN, ":user", p.UserName)
	case iam.RolePrincipal:
		id.Kind, id.RoleName, id.SessionName, id.SessionIssued = trail.AssumedRole, p.RoleName, p.SessionName, p.Issued
		id.RoleID, _, _ = strings.Cut(p.UserID, ":") // AROA…:<session>
		id.RolePath = pathIn(p.RoleARN, ":role", p.RoleName)
	default:
		id.Kind = trail.Root
	}
	return id
}

// pathIn is the IAM path of an entity's ARN ("arn:aws:iam::A:user/ops/alice" → "/ops/"):
// what lies between the resource type and the name.
func pathIn(arn, typ, name string) string {
	_, rest, ok := strings.Cut(arn, typ)
	if !ok || !strings.HasSuffix(rest, name) {
		return "/"
	}
	return rest[:len(rest)-len(name)]
}

// startRecording opens the trail of an authenticated call; nil when the trail is off or the
// call is not to be recorded.
func (f *Front) startRecording(r *http.Request, o outcome, service, requestID string) *trail.Pending {
	if f.rec == nil || o.p.Account == "" || o.action == "" {
		return nil
	}
	s := trail.STS
	if service == "iam" {
		s = trail.IAM // recorded in us-east-1 whatever the signing region (trail.Build)
	}
	return trail.NewPending(trail.Call{Service: s, Action: o.action, Params: o.params, Identity: TrailIdentity(o.p),
		SourceIP: trail.SourceIP(r), UserAgent: r.Header.Get("User-Agent"), Region: o.region,
		RequestID: requestID, TLS: trail.TLSOf(r)})
}

// finishRecording records the call's outcome from the reply iamapi wrote: its body on
// success, its ErrorResponse's code and message on failure. A reply that is not IAM's
// envelope, or that says the action does not exist, reached no handler and is not recorded.
func (f *Front) finishRecording(pend *trail.Pending, status int, body []byte) {
	var response []byte
	var failure *trail.Failure
	if status < 300 {
		response = body
	} else {
		var e struct {
			Code    string `xml:"Error>Code"`
			Message string `xml:"Error>Message"`
		}
		if xml.Unmarshal(body, &e) != nil || e.Code == "" || e.Code == iam.InvalidAction.Name || e.Code == iam.MissingAction.Name {
			return
		}
		failure = &trail.Failure{Code: e.Code, Message: e.Message, Server: status >= 500}
	}
	rec, err := pend.Finish(response, failure)
	if err != nil {
		f.log.Error("trail: response not recorded", "request_id", rec.RequestID, "err", err)
	}
	if !f.rec.Record(rec) {
		f.log.Warn("trail: queue full, record of a call dropped", "dropped_total", f.rec.Dropped())
	}
}

// recordingWriter keeps a copy of the reply for the trail (IAM and STS replies are small).
type recordingWriter struct {
	*statusWriter
	body bytes.Buffer
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.statusWriter.Write(b)
}
