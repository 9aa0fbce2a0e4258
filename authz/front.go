package authz

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stockade/stockade/auth/sigv4"
	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/iam/iamapi"
	"github.com/stockade/stockade/iampolicy"
	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/trail"
)

// Front serves IAM and STS on the API listener: it authenticates each call (SigV4, with
// session tokens), authorizes it against the caller's policies, and hands it to iam/iamapi,
// whose Caller reads the outcome — so that an authentication or authorization failure is
// answered in IAM's and STS's own ErrorResponse envelope, after the action and version have
// been checked as AWS does.
type Front struct {
	a        *Authorizer
	svc      *iam.Service
	verifier *sigv4.Verifier
	iam, sts http.Handler
	rec      *trail.Recorder
	reqID    func() string
	now      func() time.Time
	maxBody  int64
	log      *slog.Logger
}

// FrontConfig configures a Front.
type FrontConfig struct {
	// Regions are the regions a credential scope may name. IAM and STS accept any of them:
	// with --endpoint-url the AWS CLI signs them with the profile's region (§4.1).
	Regions []string
	Log     *slog.Logger
	// Now is the clock (nil: time.Now); RequestID fixes reply IDs in tests.
	Now       func() time.Time
	RequestID func() string
	// Recorder records every authenticated call in the trail (authz/trail.go); nil turns the
	// trail off.
	Recorder *trail.Recorder
}

// NewFront returns the IAM and STS front over svc, which a has been bound to.
func NewFront(a *Authorizer, svc *iam.Service, cfg FrontConfig) (*Front, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.RequestID == nil {
		cfg.RequestID = uuid.NewString
	}
	f := &Front{a: a, svc: svc, now: cfg.Now, maxBody: 1 << 20, log: cfg.Log, rec: cfg.Recorder, reqID: cfg.RequestID}
	f.verifier = &sigv4.Verifier{Regions: cfg.Regions, Now: cfg.Now,
		Credentials: func(id, token string) (string, error) {
			_, secret, err := a.Resolve(id, token)
			return secret, err
		}}
	opts := iamapi.Options{Caller: f.caller, Log: cfg.Log}
	var err error
	if f.iam, err = iamapi.NewIAM(svc, opts); err != nil {
		return nil, err
	}
	if f.sts, err = iamapi.NewSTS(svc, opts); err != nil {
		return nil, err
	}
	return f, nil
}

// Serves reports whether r is signed for IAM or STS, the services Front answers. The scope
// decides, not the action: EC2 and IAM share action names' shapes, and the AWS CLI sends all
// of them to the one --endpoint-url.
func Serves(r *http.Request) bool {
	cred, err := sigv4.Identify(r)
	return err == nil && (cred.Service == "iam" || cred.Service == "sts")
}

type outcomeKey struct{}

// outcome is what Front decided about a call, for iamapi's Caller.
type outcome struct {
	p      iam.Principal // also for a denial: the trail records who was denied
	err    error
	action string // for the log and the trail

	// For the trail: the call's parameters and the credential scope's region.
	params url.Values
	region string
}

func (f *Front) caller(r *http.Request) (iam.Principal, error) {
	o, ok := r.Context().Value(outcomeKey{}).(outcome)
	if !ok {
		return iam.Principal{}, iam.MissingAuthenticationToken.Errorf("Request is missing Authentication Token")
	}
	return o.p, o.err
}

func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cred, _ := sigv4.Identify(r)
	h := f.sts
	if cred.Service == "iam" {
		h = f.iam
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, f.maxBody))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ctx := r.Context()
	o, assume := f.check(ctx, r, body, cred.Service)
	ctx = context.WithValue(ctx, outcomeKey{}, o)
	if assume != nil {
		ctx = context.WithValue(ctx, assumeKey{}, *assume)
	}
	requestID := f.reqID()
	ctx = iamapi.WithRequestID(ctx, requestID)
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if pend := f.startRecording(r, o, cred.Service, requestID); pend != nil {
		ctx = store.WithJournal(ctx, pend.Journal) // a write commits with its record
		rw := &recordingWriter{statusWriter: sw}
		h.ServeHTTP(rw, r.WithContext(ctx))
		f.finishRecording(pend, sw.status, rw.body.Bytes())
	} else {
		h.ServeHTTP(sw, r.WithContext(ctx))
	}
	// One line per call, as the EC2 API logs them; authentication failures included (they
	// have no trustworthy identity for the trail, §1.4).
	lvl, code := slog.LevelInfo, ""
	if o.err != nil {
		code = iam.Internal(o.err).Code.Name
	}
	if sw.status >= 500 {
		lvl = slog.LevelError
	}
	f.log.LogAttrs(ctx, lvl, "request", slog.String("service", cred.Service), slog.String("account", o.p.Account),
		slog.String("principal", o.p.ARN), slog.String("action", clip(o.action)),
		slog.Int("status", sw.status), slog.String("auth_code", code))
}

// statusWriter remembers the status a handler wrote, for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// clip bounds a client-supplied string in the log.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// check authenticates and authorizes one call.
func (f *Front) check(ctx context.Context, r *http.Request, body []byte, service string) (outcome, *assumeDecision) {
	cred, err := f.verifier.Verify(r, body, service)
	if err != nil {
		return outcome{err: frontAuthError(err)}, nil
	}
	p, _, err := f.a.Resolve(cred.AccessKeyID, cred.SessionToken)
	if err != nil {
		return outcome{err: err}, nil
	}
	params := map[string]string{}
	values := url.Values{}
	q, _ := url.ParseQuery(r.URL.RawQuery)
	form, _ := url.ParseQuery(string(body))
	for _, vs := range []url.Values{q, form} {
		for k, v := range vs {
			params[k] = v[len(v)-1]
			values[k] = v[len(v)-1:]
		}
	}
	action := params["Action"]
	o, assume := f.decide(ctx, r, p, cred, service, action, params)
	o.action, o.params, o.region = action, values, cred.Region
	return o, assume
}

// decide authorizes an authenticated call.
func (f *Front) decide(ctx context.Context, r *http.Request, p iam.Principal, cred sigv4.Credential, service, action string, params map[string]string) (outcome, *assumeDecision) {
	region := cred.Region
	if service == "iam" {
		region = "us-east-1" // IAM is global and answers from us-east-1 (§6.5)
	}
	info := InfoOf(r, region, f.now())
	req := &iampolicy.Request{Action: service + ":" + action, Context: PrincipalContext(p, &info)}
	var assume *assumeDecision
	switch {
	case service == "sts" && action == "GetCallerIdentity":
		return outcome{p: p}, nil // never denied (§5.5)
	case service == "sts" && action == "AssumeRole":
		if p.Kind == iam.RootPrincipal {
			return outcome{p: p}, nil // iam answers "Roles may not be assumed by root accounts."
		}
		roleARN := params["RoleArn"]
		req.Resources = []iampolicy.Resource{{ARN: roleARN}}
		req.Context.Set(iampolicy.KeySTSRoleSessionName, params["RoleSessionName"])
		req.Trust = f.trustOf(ctx, p.Account, roleARN)
		if req.Trust == nil {
			return outcome{p: p}, nil // no such role: iam answers AccessDenied without saying so
		}
		assume = &assumeDecision{principalARN: p.ARN, roleARN: roleARN}
	case service == "iam":
		if res := iamResource(ctx, f.svc, p, action, params); res != "*" {
			req.Resources = []iampolicy.Resource{{ARN: res}}
		}
		if tags := memberTags(params); tags != nil {
			req.Context.SetRequestTags(tags)
		}
	}
	d, _, err := f.a.Decide(p, req)
	if err != nil {
		return outcome{p: p, err: iam.Internal(err)}, nil
	}
	if !d.Allowed {
		return outcome{p: p, err: iam.AccessDenied.Errorf("%s", d.Message(p.ARN, req.Action))}, nil
	}
	if assume != nil {
		assume.allowed = true
	}
	return outcome{p: p}, assume
}

// trustOf parses the trust policy of the role roleARN names, nil when there is no such role.
func (f *Front) trustOf(ctx context.Context, account, roleARN string) *iampolicy.Policy {
	rest, ok := strings.CutPrefix(roleARN, "arn:aws:iam::"+account+":role/")
	if !ok {
		return nil
	}
	role, err := f.svc.GetRole(ctx, account, rest[strings.LastIndexByte(rest, '/')+1:])
	if err != nil || iam.RoleARN(account, role) != roleARN {
		return nil
	}
	pol, err := iampolicy.Parse([]byte(role.Trust), iampolicy.Trust)
	if err != nil {
		return nil
	}
	return pol
}

// memberTags reads Tags.member.N.Key/Value, nil when the call has none.
func memberTags(params map[string]string) map[string]string {
	var tags map[string]string
	for i := 1; ; i++ {
		k, ok := params["Tags.member."+strconv.Itoa(i)+".Key"]
		if !ok {
			return tags
		}
		if tags == nil {
			tags = map[string]string{}
		}
		tags[k] = params["Tags.member."+strconv.Itoa(i)+".Value"]
	}
}

// frontAuthError is a verification failure in IAM's and STS's codes.
func frontAuthError(err error) error {
	var se *sigv4.Error
	if !errors.As(err, &se) {
		return err // the credential lookup's own (InvalidClientTokenId, ExpiredToken)
	}
	switch se.Reason {
	case sigv4.UnknownKey:
		return iam.InvalidClientTokenID.Errorf("The security token included in the request is invalid.")
	case sigv4.BadSignature:
		if se.Message == sigv4.AuthFailureMessage {
			return iam.SignatureDoesNotMatch.Errorf("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
		}
		return iam.SignatureDoesNotMatch.Errorf("%s", se.Message)
	case sigv4.BadScope:
		return iam.SignatureDoesNotMatch.Errorf("%s", se.Message)
	case sigv4.Unsigned:
		return iam.MissingAuthenticationToken.Errorf("Request is missing Authentication Token")
	case sigv4.Expired:
		return iam.RequestExpired.Errorf("%s", se.Message)
	}
	return iam.IncompleteSignature.Errorf("%s", se.Message)
}
