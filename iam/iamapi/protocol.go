package iamapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stockade/stockade/iam"
)

// Namespaces of the two services' XML.
const (
	IAMNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	STSNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// Options are what the handlers need besides the service.
type Options struct {
	// Caller names the authenticated principal of a request (the SigV4 verifier, later).
	Caller func(*http.Request) (iam.Principal, error)
	// RequestID makes the RequestId of each reply; tests fix it. Default: a random UUID.
	RequestID func() string
	Log       *slog.Logger
}

type action func(r *request) (any, error)

// handler serves one service's actions.
type handler struct {
	svc     *iam.Service
	opts    Options
	version string
	ns      string
	actions map[string]action
}

// request is one call: its parameters and its caller.
type request struct {
	*http.Request
	svc    *iam.Service
	params map[string]string
	caller iam.Principal
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	}
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, iam.InvalidInput.Errorf("The request body could not be parsed."))
		return
	}
	params := map[string]string{}
	for k, v := range r.Form {
		params[k] = v[len(v)-1]
	}
	name := params["Action"]
	if name == "" {
		h.fail(w, r, iam.MissingAction.Errorf("Missing Action"))
		return
	}
	act, ok := h.actions[name]
	if !ok || params["Version"] != h.version {
		h.fail(w, r, iam.InvalidAction.Errorf("Could not find operation %s for version %s", name, params["Version"]))
		return
	}
	caller, err := h.opts.Caller(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := act(&request{Request: r, svc: h.svc, params: params, caller: caller})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, r, name, out)
}

// reply writes <XResponse xmlns><XResult>out</XResult><ResponseMetadata>…; an action with no
// output (nil) has no Result element.
func (h *handler) reply(w http.ResponseWriter, r *http.Request, name string, out any) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	enc := xml.NewEncoder(w)
	start := xml.StartElement{Name: xml.Name{Local: name + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: h.ns}}}
	err := enc.EncodeToken(start)
	if err == nil && out != nil {
		err = enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: name + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(struct {
			RequestID string `xml:"RequestId"`
		}{h.requestID(r)}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(start.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		h.log().Warn("iamapi: write reply", "action", name, "err", err)
	}
}

type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Type    string   `xml:"Error>Type"`
	Code    string   `xml:"Error>Code"`
	Message string   `xml:"Error>Message"`
	ID      string   `xml:"RequestId"`
}

// fail writes AWS's ErrorResponse envelope with the code's status; an internal failure's text
// goes to the log, never to the client.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := iam.Internal(err)
	if e.Cause != nil {
		h.log().Error("iamapi: request failed", "code", e.Code.Name, "err", err)
	}
	typ := "Sender"
	if e.Code.Receiver {
		typ = "Receiver"
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.Code.Status)
	b, _ := xml.Marshal(errorResponse{Xmlns: h.ns, Type: typ, Code: e.Code.Name, Message: e.Message, ID: h.requestID(r)})
	_, _ = w.Write(b) // the client went away; nothing else to tell
}

func (h *handler) log() *slog.Logger {
	if h.opts.Log != nil {
		return h.opts.Log
	}
	return slog.Default()
}

// WithRequestID returns a context whose call answers with RequestId id: the layer in front
// of the handlers names the call before it runs, so that its trail record (staged by the
// call's write, before the reply) carries the ID the client gets.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

type requestIDKey struct{}

// requestID is the call's RequestId: the one its context names, or a new one.
func (h *handler) requestID(r *http.Request) string {
	if id, ok := r.Context().Value(requestIDKey{}).(string); ok {
		return id
	}
	if h.opts.RequestID != nil {
		return h.opts.RequestID()
	}
	var b [16]byte
	_, _ = io.ReadFull(rand.Reader, b[:]) // crypto/rand does not fail on Linux
	s := hex.EncodeToString(b[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// str returns a parameter, "" when absent.
func (r *request) str(name string) string { return r.params[name] }

// required returns a parameter that must be present (ValidationError otherwise, as botocore
// would refuse it client-side and AWS server-side).
func (r *request) required(name string) (string, error) {
	v, ok := r.params[name]
	if !ok {
		return "", missing(lowerFirst(name))
	}
	return v, nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// integer parses an optional integer parameter (0 when absent).
func (r *request) integer(name string) (int, error) {
	v, ok := r.params[name]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, iam.ValidationError.Errorf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a number", v, lowerFirst(name))
	}
	return n, nil
}

func (r *request) boolean(name string) bool { return strings.EqualFold(r.params[name], "true") }

// page reads Marker and MaxItems.
func (r *request) page() (iam.Page, error) {
	n, err := r.integer("MaxItems")
	if err != nil {
		return iam.Page{}, err
	}
	if v, given := r.params["MaxItems"]; given && n < 1 {
		// given as 0: below the minimum, not the default
		return iam.Page{}, iam.Invalid(v, "maxItems", "Member must have value greater than or equal to 1")
	}
	return iam.Page{Marker: r.str("Marker"), MaxItems: n}, nil
}

// list reads Name.member.N (1-based, contiguous) as IAM's Query lists are sent.
func (r *request) list(name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := r.params[name+".member."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v)
	}
}

// tags reads Tags.member.N.Key/Value.
func (r *request) tags() []iam.Tag {
	var out []iam.Tag
	for i := 1; ; i++ {
		p := "Tags.member." + strconv.Itoa(i)
		k, ok := r.params[p+".Key"]
		if !ok {
			return out
		}
		out = append(out, iam.Tag{Key: k, Value: r.params[p+".Value"]})
	}
}

// userName is a UserName parameter, or, when absent, the calling user's name (GetUser,
// CreateAccessKey, ListAccessKeys, …). Other callers must name the user: AWS says so in these
// words for role sessions; root's own keys live outside IAM here [STOCKADE].
func (r *request) userName() (string, error) {
	if v, ok := r.params["UserName"]; ok {
		return v, nil
	}
	if r.caller.Kind == iam.UserPrincipal {
		return r.caller.UserName, nil
	}
	return "", iam.ValidationError.Errorf("Must specify userName when calling with non-User credentials")
}

// encode is RFC 3986 percent-encoding, as IAM returns policy documents (§4.1): only the
// unreserved characters stay as they are.
func encode(doc string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

var errNoCaller = errors.New("iamapi: no Caller configured")
