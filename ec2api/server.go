package ec2api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/auth/sigv4"
	"github.com/stockade/stockade/authz"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/events/eventsapi"
	"github.com/stockade/stockade/iam"
	"github.com/stockade/stockade/logstore/logsapi"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/objstore/s3api"
	"github.com/stockade/stockade/trail"
)

// Config configures the API server.
type Config struct {
	// MaxBody is the largest request body accepted; larger ones are refused unread.
	MaxBody int64
	// Emulator accepts any credentials, taking the account from a 12-digit access key ID
	// (else EmulatorDefaultAccount), like moto and LocalStack. Never on by default.
	Emulator bool
	// EmulatorDefaultAccount is the account of emulator-mode requests whose access key is not
	// 12 digits, or that carry none ("": DefaultEmulatorAccount). moto's suites expect
	// 123456789012. It must pass CheckEmulatorAccount.
	EmulatorDefaultAccount string
	// DefaultRegion is used for unsigned requests in emulator mode; when it is not one of
	// Regions, the first of Regions is.
	DefaultRegion string
	// Regions is the closed set of regions served (nil: AWS's commercial regions, see
	// sigv4.CommercialRegions). A request whose credential scope names any other region is
	// refused with AuthFailure before anything reaches the service, so a typo never becomes
	// a region with its own state.
	Regions []string
	// BodyBudget bounds the bytes of request bodies held at once over all connections (at
	// least MaxBody); a body waits for its share, then must arrive within BodyTimeout.
	BodyBudget  int64
	BodyTimeout time.Duration
	Log         *slog.Logger
	// Console returns a lab instance's console output (nil when the lab is off: every
	// instance's console is then empty, as for an instance that printed nothing).
	Console func(instance string) ([]byte, error)
	// Booted reports whether a lab instance's sandbox has booted, for DescribeInstanceStatus
	// (nil when the lab is off: a running instance's checks then pass at once).
	Booted func(instance string) bool
	// Authorizer, when set, admits IAM users' keys and role sessions' temporary credentials
	// besides the accounts' root keys, and decides every call against the caller's policies
	// (denied: 403 UnauthorizedOperation with an encoded authorization message). Nil: only
	// root keys authenticate, and root may do everything in its account.
	Authorizer *authz.Authorizer
	// Recorder receives the trail record of every authenticated call (trail.go); nil turns
	// the trail off.
	Recorder *trail.Recorder
	// Lookup serves CloudTrail's LookupEvents over the trail; nil: CloudTrail is not served.
	Lookup *trail.Lookup
	// S3 serves the S3 API (s3.go) over the data directory's buckets; nil: S3 is not served.
	// S3MaxBody bounds a PutObject's body (0: S3's store's object limit, else 8 MiB).
	S3        *s3api.Handler
	S3MaxBody int64
	// Logs serves the CloudWatch Logs API (logs.go); nil: CloudWatch Logs is not served.
	Logs *logsapi.Handler
	// Events serves the EventBridge API (events.go); nil: EventBridge is not served.
	Events *eventsapi.API
	// FlowLogDelivery reports a flow log's DeliverLogsStatus and DeliverLogsErrorMessage
	// from the record writer; nil: every flow log reports SUCCESS.
	FlowLogDelivery func(flowLogID string) (status, message string)
}

// DefaultConfig returns the defaults: a 1 MiB body limit, 64 MiB of bodies at once, each
// within 10 seconds, AWS's commercial regions, signatures required.
func DefaultConfig() Config {
	return Config{MaxBody: 1 << 20, BodyBudget: 64 << 20, BodyTimeout: 10 * time.Second,
		DefaultRegion: "us-east-1", Regions: sigv4.CommercialRegions(), Log: slog.Default()}
}

// Server is the EC2 Query API as an http.Handler.
type Server struct {
	cfg      Config
	svc      *control.Service
	accounts *auth.Registry
	verifier *sigv4.Verifier
	bodies   *bodyBudget
	metrics  *Metrics
	routes   map[string]handler
}

// New returns a server over svc, authenticating against accounts.
func New(cfg Config, svc *control.Service, accounts *auth.Registry, metrics *Metrics) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	def := DefaultConfig()
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = def.MaxBody
	}
	if cfg.BodyBudget <= 0 {
		cfg.BodyBudget = def.BodyBudget
	}
	cfg.BodyBudget = max(cfg.BodyBudget, cfg.MaxBody)
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = def.BodyTimeout
	}
	if len(cfg.Regions) == 0 {
		cfg.Regions = def.Regions
	}
	if cfg.S3MaxBody <= 0 {
		cfg.S3MaxBody = 8 << 20
	}
	if cfg.S3 != nil {
		cfg.BodyBudget = max(cfg.BodyBudget, cfg.S3MaxBody)
	}
	if !contains(cfg.Regions, cfg.DefaultRegion) {
		cfg.DefaultRegion = cfg.Regions[0]
	}
	s := &Server{
		cfg:      cfg,
		svc:      svc,
		accounts: accounts,
		verifier: &sigv4.Verifier{Secret: accounts.Secret, Regions: cfg.Regions},
		bodies:   newBodyBudget(cfg.BodyBudget),
		metrics:  metrics,
	}
	if a := cfg.Authorizer; a != nil {
		s.verifier.Credentials = func(id, token string) (string, error) {
			_, secret, err := a.Resolve(id, token)
			if err != nil {
				return "", ec2CredentialError(err)
			}
			return secret, nil
		}
	}
	s.routes = routes
	return s
}

// ec2CredentialError is a failed credential lookup in EC2's words: an expired session is
// RequestExpired, as real clients report it (§5.4); anything else AuthFailure.
func ec2CredentialError(err error) error {
	var ie *iam.Error
	if errors.As(err, &ie) && ie.Code == iam.ExpiredToken {
		return &sigv4.Error{Code: "RequestExpired", Message: "Request has expired.", Reason: sigv4.Expired}
	}
	return &sigv4.Error{Code: "AuthFailure", Message: sigv4.AuthFailureMessage, Reason: sigv4.UnknownKey}
}

func (s *Server) now() time.Time { return time.Now() }

// handler serves one action. It reads c.req, calls the service and writes its output elements
// into c.out; errors are rendered by the server.
type handler func(c *call) error

// call is one request in flight.
type call struct {
	ctx     context.Context
	s       *Server
	req     *query.Request
	tenant  control.Tenant
	account auth.Account
	// principal is the authenticated caller when an Authorizer is configured, else nil.
	principal *iam.Principal
	requestID string
	out       xmlWriter
	reply     *[]byte // out's buffer, from replyBuffers
	// rev is the store revision a write produced, reported in the X-Stockade-Revision header
	// so that a client can wait for enforcement of its change.
	rev int64
	// rec is the call's trail record in the making (trail.go); nil until the call is
	// authenticated, and when the trail is off.
	rec *trail.Pending
	// newIDs are the IDs authorization allocated for the resources the call creates, by
	// resource type (authorize.go, newID).
	newIDs map[string]string
}

func (c *call) svc() *control.Service { return c.s.svc }

// ServeHTTP authenticates, decodes, dispatches, renders and records one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c := &call{ctx: r.Context(), s: s, requestID: uuid.NewString()}
	action, code, status := "", "", http.StatusOK
	defer func() {
		elapsed := time.Since(start)
		s.metrics.observe(action, code, elapsed)
		lvl := slog.LevelInfo
		if code != "" && !isClientCode(code) {
			lvl = slog.LevelError
		}
		s.cfg.Log.LogAttrs(c.ctx, lvl, "request",
			slog.String("request_id", c.requestID), slog.String("account", c.tenant.Account),
			slog.String("region", c.tenant.Region), slog.String("action", action),
			slog.Int("status", status), slog.String("code", code),
			slog.Duration("latency", elapsed))
	}()
	sts := false // STS answers in its own error shape and codes
	fail := func(err error) {
		e := asAPIError(err)
		code = e.Code
		if e.Cause != nil {
			s.cfg.Log.LogAttrs(c.ctx, slog.LevelError, "internal error", slog.String("request_id", c.requestID), slog.Any("error", e.Cause))
		}
		if sts {
			status = writeSTSError(w, c.requestID, e)
		} else {
			status = writeError(w, c.requestID, e)
		}
		s.finish(c, nil, failureOf(e.Code, e.Message, status))
	}

	if ServesS3(r) { // before the body: S3's bodies have a limit of their own
		action, code, status = s.serveS3(w, r, c)
		return
	}
	body, release, err := s.readBody(w, r)
	defer release()
	if err != nil {
		fail(err)
		return
	}
	if isLogs(r) {
		action, code, status = s.serveLogs(w, r, c, body)
		return
	}
	if isCloudTrail(r) {
		action, code, status = s.serveCloudTrail(w, r, c, body)
		return
	}
	if eventsapi.Serves(r) {
		action, code, status = s.serveEvents(w, r, c, body)
		return
	}
	values, err := s.values(r, body)
	if err != nil {
		fail(err)
		return
	}
	action = values.Get("Action")
	sts = action == "GetCallerIdentity"
	if _, ok := s.routes[action]; !ok && !sts {
		action = "unknown" // keeps metric labels bounded
	}
	service := "ec2"
	if sts {
		service = "sts"
	}
	if err := s.authenticate(c, r, body, service); err != nil {
		fail(err)
		return
	}
	if sts {
		s.startRecording(c, r, trail.STS, action, values, nil)
		var resp []byte
		status, resp = s.getCallerIdentity(w, c)
		s.finish(c, resp, nil)
		return
	}
	if action != "unknown" {
		s.startRecording(c, r, trail.EC2, action, values, nil)
	}
	req, err := query.Parse(values)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		fail(queryError(err))
		return
	}
	c.req = req
	h := s.routes[req.Action]
	if h == nil {
		fail(model.InvalidAction.New(req.Action))
		return
	}
	if err := c.authorize(r, values); err != nil {
		fail(err)
		return
	}
	c.startResponse()
	if err := h(c); err != nil {
		fail(err)
		return
	}
	if readOnly(req.Action) && c.dryRun() {
		fail(model.DryRunOperation.New())
		return
	}
	s.finish(c, s.writeResponse(w, c), nil)
	c.recycle()
}

// recycle gives the reply's buffer back for another call's, once the reply is sent and the
// trail has what it takes from it, unless the trail's record keeps the reply itself (a
// change's responseElements are built on the Recorder's goroutine).
func (c *call) recycle() {
	if c.reply == nil || (c.rec != nil && c.rec.KeepsReply()) || cap(c.out.b) > maxPooledReply {
		return
	}
	*c.reply = c.out.b[:0]
	replyBuffers.Put(c.reply)
	c.reply, c.out.b = nil, nil
}

// readOnly reports whether an action only reads (Describe*, Get*). Such an action honours
// DryRun here, once for all of them, rather than in each handler: it runs as usual, so that
// its validation errors are answered as usual, and a request that succeeded answers
// DryRunOperation instead of its result (spec §8.4; issue 13). Reading changes nothing, so
// running it costs only the time.
func readOnly(action string) bool {
	return strings.HasPrefix(action, "Describe") || strings.HasPrefix(action, "Get")
}

// values decodes the parameters: the URL query, plus the form body of a POST (spec §8.1).
func (s *Server) values(r *http.Request, body []byte) (url.Values, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, model.InvalidValue("The query string is not valid URL encoding.")
	}
	if r.Method == http.MethodPost && len(body) > 0 {
		ct := r.Header.Get("Content-Type")
		if ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
			return nil, model.InvalidValue("Unsupported Content-Type %q: EC2 requests are application/x-www-form-urlencoded.", ct)
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, model.InvalidValue("The request body is not valid URL encoding.")
		}
		for k, vs := range form {
			v[k] = append(v[k], vs...)
		}
	} else if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, model.InvalidRequest.Errorf("Method %s is not supported: use GET or POST.", r.Method)
	}
	return v, nil
}

// authenticate verifies the signature (or, in emulator mode, only reads the credential) as a
// call of service and sets the call's account and tenant. The region is checked against the
// closed set here, before any handler can reach the service with it.
func (s *Server) authenticate(c *call, r *http.Request, body []byte, service string) error {
	if s.cfg.Emulator {
		cred, err := sigv4.Identify(r)
		if err != nil || cred.AccessKeyID == "" {
			c.account = auth.Account{ID: s.emulatorDefault(), Name: "emulator"}
			c.tenant = control.Tenant{Account: c.account.ID, Region: s.cfg.DefaultRegion}
			return nil
		}
		region := regionOr(cred.Region, s.cfg.DefaultRegion)
		if err := s.verifier.CheckRegion(region); err != nil {
			return authError(err, service)
		}
		id := s.emulatorDefault()
		if emulatorAccount.MatchString(cred.AccessKeyID) {
			id = cred.AccessKeyID
		}
		c.account = auth.Account{ID: id, Name: "emulator", AccessKeyID: cred.AccessKeyID}
		c.tenant = control.Tenant{Account: id, Region: region}
		return nil
	}
	cred, err := s.verifier.Verify(r, body, service)
	if err != nil {
		return authError(err, service)
	}
	if s.cfg.Authorizer != nil {
		p, _, err := s.cfg.Authorizer.Resolve(cred.AccessKeyID, cred.SessionToken)
		if err != nil { // deleted or expired between verification and lookup
			return authError(ec2CredentialError(err), service)
		}
		c.principal = &p
		c.account = auth.Account{ID: p.Account, Name: p.UserName, AccessKeyID: cred.AccessKeyID, Admin: p.Kind == iam.RootPrincipal}
		c.tenant = control.Tenant{Account: p.Account, Region: cred.Region}
		return nil
	}
	a, ok := s.accounts.Lookup(cred.AccessKeyID)
	if !ok { // deleted between verification and lookup
		return authError(&sigv4.Error{Code: "AuthFailure", Message: sigv4.AuthFailureMessage, Reason: sigv4.UnknownKey}, service)
	}
	c.account = a
	c.tenant = control.Tenant{Account: a.ID, Region: cred.Region}
	return nil
}

// authError turns a verification failure into the API error of the service called.
func authError(err error, service string) error {
	var se *sigv4.Error
	if !errors.As(err, &se) {
		return err
	}
	switch service {
	case "sts":
		return stsAuthError(se)
	case "cloudtrail", "logs", "s3", "events":
		return se // answered in the service's own words (trail.go's jsonAuthError, s3.go's s3AuthError)
	}
	return model.ErrorOf(se.Code, se.Message)
}

var emulatorAccount = regexp.MustCompile(`^[0-9]{12}$`)

// DefaultEmulatorAccount is the account of emulator-mode requests without a 12-digit access
// key unless Config.EmulatorDefaultAccount names another (LocalStack's choice).
const DefaultEmulatorAccount = "000000000000"

// CheckEmulatorAccount refuses an emulator default account that is not an AWS account ID (12
// digits), which no client could name and no ARN could hold.
func CheckEmulatorAccount(id string) error {
	if !emulatorAccount.MatchString(id) {
		return fmt.Errorf("emulator default account %q: want an AWS account ID of 12 digits", id)
	}
	return nil
}

func (s *Server) emulatorDefault() string {
	if s.cfg.EmulatorDefaultAccount != "" {
		return s.cfg.EmulatorDefaultAccount
	}
	return DefaultEmulatorAccount
}

func regionOr(r, def string) string {
	if r == "" {
		return def
	}
	return r
}

// startResponse opens the success envelope (spec §8.2) in c.out before the handler writes
// its elements there: the reply is built in one buffer, sized for most replies, rather than
// grown from empty and then copied into the envelope (they were a fifth of a describe's
// allocated bytes). A failure discards it.
func (c *call) startResponse() {
	c.reply = replyBuffers.Get().(*[]byte)
	c.out.b = append((*c.reply)[:0], `<?xml version="1.0" encoding="UTF-8"?>`+"\n<"...)
	c.out.b = append(c.out.b, c.req.Action...)
	c.out.b = append(c.out.b, `Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`...)
	c.out.str("requestId", c.requestID)
}

// xmlContentType is every XML reply's Content-Type header value. Shared by all replies, which
// only read it: net/http writes header values and never changes them in place.
var xmlContentType = []string{"text/xml;charset=UTF-8"}

// writeResponse closes the envelope startResponse opened, sends it, and returns the body
// written.
func (s *Server) writeResponse(w http.ResponseWriter, c *call) []byte {
	c.out.b = append(c.out.b, "</"...)
	c.out.b = append(c.out.b, c.req.Action...)
	c.out.b = append(c.out.b, "Response>"...)
	h := w.Header()
	h["Content-Type"] = xmlContentType // canonical keys set directly: no allocation per reply
	h["X-Amzn-Requestid"] = []string{c.requestID}
	if c.rev > 0 {
		h.Set("X-Stockade-Revision", strconv.FormatInt(c.rev, 10))
	}
	w.Write(c.out.b)
	return c.out.b
}

// queryError converts the decoder's errors into API errors.
func queryError(err error) error {
	var qe *query.Error
	if errors.As(err, &qe) {
		return model.ErrorOf(qe.Code, qe.Message)
	}
	return err
}
