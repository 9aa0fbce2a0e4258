package ec2api

import (
	"context"
	"errors"
	"io"
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
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

// Config configures the API server.
type Config struct {
	// MaxBody is the largest request body accepted; larger ones are refused unread.
	MaxBody int64
	// Emulator accepts any credentials, taking the account from a 12-digit access key ID
	// (else 000000000000), like moto and LocalStack. Never on by default.
	Emulator bool
	// DefaultRegion is used for unsigned requests in emulator mode.
	DefaultRegion string
	Log           *slog.Logger
	// Console returns a lab instance's console output (nil when the lab is off: every
	// instance's console is then empty, as for an instance that printed nothing).
	Console func(instance string) ([]byte, error)
}

// DefaultConfig returns the defaults: a 1 MiB body limit, signatures required.
func DefaultConfig() Config {
	return Config{MaxBody: 1 << 20, DefaultRegion: "us-east-1", Log: slog.Default()}
}

// Server is the EC2 Query API as an http.Handler.
type Server struct {
	cfg      Config
	svc      *control.Service
	accounts *auth.Registry
	verifier *sigv4.Verifier
	metrics  *Metrics
	routes   map[string]handler
}

// New returns a server over svc, authenticating against accounts.
func New(cfg Config, svc *control.Service, accounts *auth.Registry, metrics *Metrics) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	s := &Server{
		cfg:      cfg,
		svc:      svc,
		accounts: accounts,
		verifier: &sigv4.Verifier{Secret: accounts.Secret, Services: []string{"ec2", "sts"}},
		metrics:  metrics,
	}
	s.routes = routes
	return s
}

// handler serves one action. It reads c.req, calls the service and writes its output elements
// into c.out; errors are rendered by the server.
type handler func(c *call) error

// call is one request in flight.
type call struct {
	ctx       context.Context
	s         *Server
	req       *query.Request
	tenant    control.Tenant
	account   auth.Account
	requestID string
	out       xmlWriter
	// rev is the store revision a write produced, reported in the X-Stockade-Revision header
	// so that a client can wait for enforcement of its change.
	rev int64
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
	fail := func(err error) {
		e := asAPIError(err)
		code = e.Code
		if e.Cause != nil {
			s.cfg.Log.LogAttrs(c.ctx, slog.LevelError, "internal error", slog.String("request_id", c.requestID), slog.Any("error", e.Cause))
		}
		status = writeError(w, c.requestID, e)
	}

	body, err := s.readBody(r)
	if err != nil {
		fail(err)
		return
	}
	values, err := s.values(r, body)
	if err != nil {
		fail(err)
		return
	}
	action = values.Get("Action")
	if _, ok := s.routes[action]; !ok && action != "GetCallerIdentity" {
		action = "unknown" // keeps metric labels bounded
	}
	if err := s.authenticate(c, r, body); err != nil {
		fail(err)
		return
	}
	if values.Get("Action") == "GetCallerIdentity" {
		status = s.getCallerIdentity(w, c)
		return
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
	if err := h(c); err != nil {
		fail(err)
		return
	}
	s.writeResponse(w, c)
}

// readBody reads the whole body once (it is both hashed for SigV4 and decoded), refusing
// bodies over the limit without buffering them.
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > s.cfg.MaxBody {
		return nil, model.RequestEntityTooLarge.Errorf("Request body of %d bytes exceeds the limit of %d bytes.", r.ContentLength, s.cfg.MaxBody)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBody+1))
	if err != nil {
		return nil, model.InvalidRequest.Errorf("Could not read the request body: %v", err)
	}
	if int64(len(body)) > s.cfg.MaxBody {
		return nil, model.RequestEntityTooLarge.Errorf("Request body exceeds the limit of %d bytes.", s.cfg.MaxBody)
	}
	return body, nil
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

// authenticate verifies the signature (or, in emulator mode, only reads the credential) and
// sets the call's account and tenant.
func (s *Server) authenticate(c *call, r *http.Request, body []byte) error {
	if s.cfg.Emulator {
		cred, err := sigv4.Identify(r)
		if err != nil || cred.AccessKeyID == "" {
			c.account = auth.Account{ID: "000000000000", Name: "emulator"}
			c.tenant = control.Tenant{Account: c.account.ID, Region: s.cfg.DefaultRegion}
			return nil
		}
		id := "000000000000"
		if emulatorAccount.MatchString(cred.AccessKeyID) {
			id = cred.AccessKeyID
		}
		c.account = auth.Account{ID: id, Name: "emulator", AccessKeyID: cred.AccessKeyID}
		c.tenant = control.Tenant{Account: id, Region: regionOr(cred.Region, s.cfg.DefaultRegion)}
		if !validRegion.MatchString(c.tenant.Region) {
			return model.AuthFailure.Errorf("The credential scope names region %q, which is not a valid AWS region name", c.tenant.Region)
		}
		return nil
	}
	cred, err := s.verifier.Verify(r, body)
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			return model.ErrorOf(se.Code, se.Message)
		}
		return err
	}
	if !validRegion.MatchString(cred.Region) {
		// Every region is served, each with its own state; a typo must not silently create one.
		return model.AuthFailure.Errorf("The credential scope names region %q, which is not a valid AWS region name", cred.Region)
	}
	a, ok := s.accounts.Lookup(cred.AccessKeyID)
	if !ok { // deleted between verification and lookup
		return model.AuthFailure.New()
	}
	c.account = a
	c.tenant = control.Tenant{Account: a.ID, Region: cred.Region}
	return nil
}

var (
	emulatorAccount = regexp.MustCompile(`^[0-9]{12}$`)
	// validRegion is the shape of AWS region names: us-east-1, eu-central-2, us-gov-west-1.
	validRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
)

func regionOr(r, def string) string {
	if r == "" {
		return def
	}
	return r
}

// writeResponse renders the success envelope around the handler's output (spec §8.2).
func (s *Server) writeResponse(w http.ResponseWriter, c *call) {
	var x xmlWriter
	x.b = make([]byte, 0, len(c.out.b)+256)
	x.b = append(x.b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<"...)
	x.b = append(x.b, c.req.Action...)
	x.b = append(x.b, `Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`...)
	x.str("requestId", c.requestID)
	x.b = append(x.b, c.out.b...)
	x.close(c.req.Action + "Response")
	h := w.Header()
	h.Set("Content-Type", "text/xml;charset=UTF-8")
	h.Set("X-Amzn-Requestid", c.requestID)
	if c.rev > 0 {
		h.Set("X-Stockade-Revision", strconv.FormatInt(c.rev, 10))
	}
	w.Write(x.b)
}

// queryError converts the decoder's errors into API errors.
func queryError(err error) error {
	var qe *query.Error
	if errors.As(err, &qe) {
		return model.ErrorOf(qe.Code, qe.Message)
	}
	return err
}
