package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/stockade/stockade/auth"
)

// HistoryFunc answers GET /v1/audit/history: the continuous audit's history of one account
// and region, as JSON (the auditor's episodes: the admin API carries it, it does not read it).
type HistoryFunc func(ctx context.Context, account, region string) (json.RawMessage, error)

// ErrNoAudit is what the history endpoint answers on a server without its continuous audit.
var ErrNoAudit = errors.New("this server runs no continuous audit: start it without --audit=false")

// WithHistory serves GET /v1/audit/history?account=&region= from history (nil: the server
// runs no continuous audit) and everything else from h.
func WithHistory(h http.Handler, accounts *auth.Registry, history HistoryFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("GET /v1/audit/history", func(w http.ResponseWriter, r *http.Request) {
		if history == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": ErrNoAudit.Error()})
			return
		}
		acct, region, ok := accountRegion(w, r, accounts)
		if !ok {
			return
		}
		js, err := history(r.Context(), acct.ID, region)
		if err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, js)
	})
	return mux
}

// AuditHistory reads the continuous audit's history of an account (by name or ID; empty for
// the administrator's) in a region.
func (c *Client) AuditHistory(ctx context.Context, account, region string) (json.RawMessage, error) {
	var out json.RawMessage
	q := url.Values{"account": {account}, "region": {region}}
	err := c.do(ctx, http.MethodGet, "/v1/audit/history?"+q.Encode(), "", &out)
	return out, err
}
