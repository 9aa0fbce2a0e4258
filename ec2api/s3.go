package ec2api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/stockade/stockade/auth/sigv4"
	"github.com/stockade/stockade/authz"
	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/iampolicy"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/objstore/s3api"
	"github.com/stockade/stockade/trail"
)

// This file mounts the S3 API (package objstore/s3api) on the EC2 endpoint, as CloudTrail's
// LookupEvents is (trail.go): the AWS CLI sends every service to the one --endpoint-url and
// only the SigV4 scope tells them apart. The call goes through the same steps as an EC2 one:
// authenticated (service s3) as the account's root, an IAM user or a role session,
// authorized (s3:<Action> on the bucket's or object's ARN) by the same Authorizer, and, for
// management calls only, recorded in the trail (eventSource s3.amazonaws.com); object reads
// and writes are data events, which CloudTrail records only on request.

// ServesS3 reports whether r is signed for S3. The server routes such a request to the API
// before its own paths (/metrics, /healthz), which are also bucket names.
func ServesS3(r *http.Request) bool {
	cred, err := sigv4.Identify(r)
	return err == nil && cred.Service == "s3"
}

// serveS3 answers an S3 call; with no S3 configured, S3 is not served (NotImplemented).
func (s *Server) serveS3(w http.ResponseWriter, r *http.Request, c *call) (action, code string, status int) {
	q, perr := s3api.Parse(r)
	action = "s3"
	fail := func(e *model.Error) (string, string, int) {
		status := s3api.WriteError(w, r, q, c.requestID, e)
		s.finish(c, nil, failureOf(e.Code, e.Message, status))
		return action, e.Code, status
	}
	if s.cfg.S3 == nil {
		return fail(model.S3NotImplemented.Errorf("S3 is not served."))
	}
	body, release, err := s.readBodyUpTo(w, r, s.cfg.S3MaxBody)
	defer release()
	if err != nil {
		e := model.Internal(err)
		if e.Code == model.RequestEntityTooLarge.Name {
			e = model.EntityTooLarge.New()
		}
		return fail(e)
	}
	if err := s.authenticate(c, r, body, "s3"); err != nil {
		return fail(s3AuthError(err))
	}
	if perr != nil {
		return fail(model.Internal(perr))
	}
	action = q.Action
	if s3api.Management(q.Action) {
		params, _ := json.Marshal(map[string]string{"bucketName": q.Bucket, "Host": r.Host})
		s.startRecording(c, r, trail.S3, q.Action, nil, params)
	}
	if err := s.authorizeARN(c, r, s3api.IAMAction(q.Action), q.ARN()); err != nil {
		if e := model.Internal(err); e.Code != model.InternalError.Name {
			err = model.S3AccessDenied.New()
		}
		return fail(model.Internal(err))
	}
	status, e := s.cfg.S3.Serve(w, r, q, s3api.Caller{Account: c.tenant.Account, Region: c.tenant.Region, RequestID: c.requestID}, body)
	if e != nil {
		s.finish(c, nil, failureOf(e.Code, e.Message, status))
		return action, e.Code, status
	}
	s.finish(c, nil, nil)
	return action, "", status
}

// authorizeARN decides action on one resource for the call's principal (root may do
// everything in its account); a denial is UnauthorizedOperation, for the caller to word in
// its service's terms.
func (s *Server) authorizeARN(c *call, r *http.Request, action, arn string) error {
	p := c.principal
	if p == nil || p.Kind == iam.RootPrincipal {
		return nil
	}
	info := authz.InfoOf(r, c.tenant.Region, s.now())
	req := &iampolicy.Request{Action: action, Context: authz.PrincipalContext(*p, &info)}
	if arn != "*" {
		req.Resources = []iampolicy.Resource{{ARN: arn}}
	}
	d, _, err := s.cfg.Authorizer.Decide(*p, req)
	if err != nil {
		return model.InternalError.New().WithCause(err)
	}
	if !d.Allowed {
		return model.UnauthorizedOperation.New()
	}
	return nil
}

// s3AuthError is a verification failure in S3's codes.
func s3AuthError(err error) *model.Error {
	var se *sigv4.Error
	if !errors.As(err, &se) {
		var me *model.Error
		if errors.As(err, &me) && me.Code == model.AuthFailure.Name {
			return model.InvalidAccessKeyId.New()
		}
		return model.Internal(err)
	}
	switch se.Reason {
	case sigv4.UnknownKey:
		return model.InvalidAccessKeyId.New()
	case sigv4.BadSignature:
		return model.SignatureDoesNotMatch.New()
	case sigv4.Unsigned:
		return model.S3AccessDenied.New()
	case sigv4.Expired:
		return model.S3AccessDenied.Errorf("Request has expired")
	}
	return model.AuthorizationHeaderMalformed.Errorf("%s", se.Message)
}
