package imds

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stockade/stockade/model"
)

// The IMDSv2 headers.
const (
	HeaderToken    = "X-Aws-Ec2-Metadata-Token"
	HeaderTokenTTL = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
)

type handler struct {
	s  *Server
	id string
}

// ServeHTTP answers one request, in EC2's order of checks (spec §B2.1):
//
//   - the instance must exist (404 otherwise: its listener outlived it);
//   - the instance's rate (429);
//   - HttpEndpoint=disabled answers 403 to everything [DESIGN: EC2 stops answering; a 403
//     makes the SDKs give up at once instead of waiting for a timeout], and so does
//     HttpProtocolIpv6=disabled (EC2's default) to what comes to the IPv6 endpoint;
//   - PUT /latest/api/token mints a token: 403 with X-Forwarded-For (the request was relayed),
//     400 without a TTL of 1..21600; PUT to a dated version's token path is 403, and PUT
//     anywhere else 405;
//   - data is read with GET or HEAD only (405);
//   - a token, when sent, must be valid (401), and is required when HttpTokens=required (401:
//     the SDKs fetch a new token on a 401, whereas a 403 would turn them to IMDSv1 for good);
//   - then the path: a listing, a value, or 404.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs != nil && cs.limited && !isTokenPut(r) {
		cs.setHopLimit(-1) // best effort: a failure leaves a lower TTL, never a higher one
	}
	in, ok := h.s.src(h.id)
	if !ok {
		fail(w, http.StatusNotFound)
		return
	}
	if !h.s.allow(h.id) {
		fail(w, http.StatusTooManyRequests)
		return
	}
	opts := in.Options.WithDefaults()
	if opts.HttpEndpoint == model.Disabled || cs.ipv6() && opts.HttpProtocolIpv6 != model.Enabled {
		fail(w, http.StatusForbidden)
		return
	}
	version, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.Method == http.MethodPut {
		switch {
		case rest != "api/token" || !isVersion(version):
			fail(w, http.StatusMethodNotAllowed)
		case version != "latest":
			fail(w, http.StatusForbidden)
		default:
			h.token(w, r, cs, opts)
		}
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, PUT")
		fail(w, http.StatusMethodNotAllowed)
		return
	}
	if tok, sent := r.Header[HeaderToken]; sent {
		if len(tok) != 1 || !h.s.tokens.valid(h.id, tok[0], h.s.cfg.Now()) {
			fail(w, http.StatusUnauthorized)
			return
		}
	} else if opts.HttpTokens == model.TokensRequired {
		fail(w, http.StatusUnauthorized)
		return
	}
	in.Options = opts
	h.get(w, r, in, version, rest)
}

func isTokenPut(r *http.Request) bool {
	return r.Method == http.MethodPut && r.URL.Path == "/latest/api/token"
}

// token answers PUT /latest/api/token.
func (h *handler) token(w http.ResponseWriter, r *http.Request, cs *connState, opts model.MetadataOptions) {
	if _, relayed := r.Header["X-Forwarded-For"]; relayed {
		fail(w, http.StatusForbidden)
		return
	}
	ttls := r.Header[HeaderTokenTTL]
	if len(ttls) != 1 {
		fail(w, http.StatusBadRequest)
		return
	}
	ttl, err := strconv.Atoi(ttls[0])
	if err != nil || ttl < 1 || ttl > MaxTokenTTL {
		fail(w, http.StatusBadRequest)
		return
	}
	tok := h.s.tokens.mint(h.id, h.s.cfg.Now().Add(time.Duration(ttl)*time.Second))
	// The response must not reach further than the hop limit: the TTL is lowered before a
	// byte of it is written. A socket that refuses is not answered at all.
	if cs != nil {
		if err := cs.setHopLimit(opts.HttpPutResponseHopLimit); err != nil {
			fail(w, http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set(HeaderTokenTTL, strconv.Itoa(ttl)) // the Go SDK fails without it
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(tok))
}

// get answers a GET or HEAD of data.
func (h *handler) get(w http.ResponseWriter, r *http.Request, in Instance, version, rest string) {
	if version == "" {
		body(w, r, "text/plain", []byte(strings.Join(versions, "\n")))
		return
	}
	if !isVersion(version) {
		fail(w, http.StatusNotFound)
		return
	}
	n := tree(in)
	if rest != "" {
		segs := strings.Split(rest, "/")
		trailing := segs[len(segs)-1] == ""
		if trailing {
			segs = segs[:len(segs)-1]
		}
		for _, s := range segs {
			if n.entries == nil || s == "" {
				n = nil
				break
			}
			if n = n.child(s); n == nil {
				break
			}
		}
		if n != nil && trailing && n.entries == nil {
			n = nil // a value is not a directory
		}
	}
	switch {
	case n == nil:
		fail(w, http.StatusNotFound)
	case n.entries != nil:
		body(w, r, "text/plain", n.listing())
	case rest == "user-data":
		body(w, r, "application/octet-stream", n.value)
	default:
		body(w, r, "text/plain", n.value)
	}
}

func isVersion(v string) bool {
	for _, x := range versions {
		if v == x {
			return true
		}
	}
	return false
}

func body(w http.ResponseWriter, r *http.Request, typ string, b []byte) {
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

// fail answers an error as EC2's metadata service does: a small HTML page with the status.
func fail(w http.ResponseWriter, code int) {
	text := fmt.Sprintf("%d - %s", code, http.StatusText(code))
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(code)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
	"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>%s</title>
 </head>
 <body>
  <h1>%s</h1>
 </body>
</html>
`, text, text)
}
