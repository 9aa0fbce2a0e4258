// Package adminapi is Stockade's local administration interface: a small JSON-over-HTTP API
// served on a Unix socket inside the data directory, used by `stockade account …` to add and
// list accounts while the server runs, by `stockade reach` to read an account's network, and by
// `stockade lab …` to find lab instances. Whoever can open the socket — the data directory is
// 0700 — is an administrator; nothing on it is reachable over the network.
package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
)

// SocketName is the socket's file name inside the data directory.
const SocketName = "admin.sock"

// AccountInfo is an account as listed: everything but the secret.
type AccountInfo struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	AccessKeyID string    `json:"accessKeyId"`
	Admin       bool      `json:"admin"`
	Created     time.Time `json:"created"`
}

// SnapshotFunc reads one account's network in one region, consistent at one revision.
type SnapshotFunc func(ctx context.Context, account, region string) (State, error)

// State is what GET /v1/snapshot answers: one account's network in one region (the snapshot
// `stockade reach` reads) and, read at the same revision, what `stockade audit` needs beside
// it. The lists are never null (empty when there are none: an auditor tells "none" from "not
// known"); Regions are the regions the server serves, for auditing them all.
type State struct {
	netmap.Snapshot
	Instances              []*model.Instance              `json:"instances"`
	LaunchTemplates        []*model.LaunchTemplate        `json:"launchTemplates"`
	LaunchTemplateVersions []*model.LaunchTemplateVersion `json:"launchTemplateVersions"`
	FlowLogs               []*model.FlowLog               `json:"flowLogs"`
	// AlertPatterns are the event patterns of the account's enabled EventBridge rules in the
	// region (MON-001/002); RuleChangeRecords the trail's records of security-group rule
	// changes of the last day, oldest first, as CloudTrail writes them (MON-003 reads them
	// with audit.RuleChanges: the admin API carries data, the client computes). Each is null
	// when the server does not know it (--events=false, --trail=false).
	AlertPatterns     []json.RawMessage `json:"alertPatterns"`
	RuleChangeRecords []json.RawMessage `json:"ruleChangeRecords"`
	Regions           []string          `json:"regions"`
}

// LabFunc lists the lab instances; nil when the server runs no lab.
type LabFunc func() []netmap.LabInstance

// ErrNoLab is what the lab endpoints answer on a server without a lab.
var ErrNoLab = errors.New("this server runs no lab: start it as root, without --lab=false")

// Handler serves the admin API over accounts and, through snapshot, their networks, and lists
// the lab instances through lab (which may be nil). It logs every change it makes to log
// (nil for none): an account created here is as much the operator's act as one at start-up.
func Handler(accounts *auth.Registry, snapshot SnapshotFunc, lab LabFunc, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/lab/instances", func(w http.ResponseWriter, r *http.Request) {
		if lab == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": ErrNoLab.Error()})
			return
		}
		writeJSON(w, http.StatusOK, lab())
	})
	mux.HandleFunc("GET /v1/snapshot", func(w http.ResponseWriter, r *http.Request) {
		acct, region, ok := accountRegion(w, r, accounts)
		if !ok {
			return
		}
		s, err := snapshot(r.Context(), acct.ID, region)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, s)
	})
	mux.HandleFunc("GET /v1/accounts", func(w http.ResponseWriter, r *http.Request) {
		var out []AccountInfo
		for _, a := range accounts.List() {
			out = append(out, AccountInfo{a.ID, a.Name, a.AccessKeyID, a.Admin, a.Created})
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /v1/accounts", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON {\"name\": …}"})
			return
		}
		a, err := accounts.Create(r.Context(), req.Name, false)
		if err != nil {
			log.Warn("account not created", "name", req.Name, "via", "admin socket", "error", err)
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		log.Info("created account", "account", a.ID, "name", a.Name, "access_key", a.AccessKeyID, "via", "admin socket")
		writeJSON(w, http.StatusOK, a)
	})
	return mux
}

// accountRegion reads a request's account (by name or ID, findAccount) and region, or
// answers the error and returns false.
func accountRegion(w http.ResponseWriter, r *http.Request, accounts *auth.Registry) (auth.Account, string, bool) {
	acct, err := findAccount(accounts, r.URL.Query().Get("account"))
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return auth.Account{}, "", false
	}
	region := r.URL.Query().Get("region")
	if region == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "region is required"})
		return auth.Account{}, "", false
	}
	return acct, region, true
}

// findAccount resolves an account by name or ID; empty means the administrator's account.
func findAccount(accounts *auth.Registry, v string) (auth.Account, error) {
	for _, a := range accounts.List() {
		if (v == "" && a.Admin) || (v != "" && (a.Name == v || a.ID == v)) {
			return a, nil
		}
	}
	return auth.Account{}, fmt.Errorf("no account %q", v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Listen opens the socket in dataDir, replacing a stale one left by a crash. Whatever is at the
// socket's path must be a socket of this process's user: a symbolic link or someone else's file
// there is refused rather than dialled or removed.
func Listen(dataDir string) (net.Listener, error) {
	path := filepath.Join(dataDir, SocketName)
	if err := checkSocket(path, false); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("admin socket %s is served by another running stockade server", path)
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return l, nil
}

// Client talks to a running server's admin socket.
type Client struct {
	http *http.Client
}

// Dial returns a client for the server whose data directory is dataDir.
func Dial(dataDir string) *Client {
	path := filepath.Join(dataDir, SocketName)
	return &Client{http: &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			if err := checkSocket(path, true); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, fmt.Errorf("no stockade server is running with data directory %s (%w)", dataDir, err)
			}
			return c, nil
		}},
	}}
}

// CreateAccount adds an account and returns it with its secret.
func (c *Client) CreateAccount(ctx context.Context, name string) (auth.Account, error) {
	var a auth.Account
	body, _ := json.Marshal(map[string]string{"name": name})
	err := c.do(ctx, http.MethodPost, "/v1/accounts", string(body), &a)
	return a, err
}

// ListAccounts lists the accounts without secrets.
func (c *Client) ListAccounts(ctx context.Context) ([]AccountInfo, error) {
	var out []AccountInfo
	err := c.do(ctx, http.MethodGet, "/v1/accounts", "", &out)
	return out, err
}

// Snapshot reads an account's network (by name or ID; empty for the administrator's) in a
// region.
func (c *Client) Snapshot(ctx context.Context, account, region string) (netmap.Snapshot, error) {
	s, err := c.State(ctx, account, region)
	return s.Snapshot, err
}

// State reads an account's network in a region with what the auditor reads beside it.
func (c *Client) State(ctx context.Context, account, region string) (State, error) {
	var s State
	q := url.Values{"account": {account}, "region": {region}}
	err := c.do(ctx, http.MethodGet, "/v1/snapshot?"+q.Encode(), "", &s)
	return s, err
}

// LabInstances lists the lab instances of the server.
func (c *Client) LabInstances(ctx context.Context) ([]netmap.LabInstance, error) {
	var out []netmap.LabInstance
	err := c.do(ctx, http.MethodGet, "/v1/lab/instances", "", &out)
	return out, err
}

func (c *Client) do(ctx context.Context, method, path, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://stockade"+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			return ue.Unwrap()
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errorBody(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin socket: unreadable answer to %s %s: %w", method, path, err)
	}
	return nil
}

// errorBody turns a failed answer into an error: the server's {"error": …} message, or the
// HTTP status and the start of the body when there is none (an older or a foreign server).
func errorBody(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err == nil && e.Error != "" {
		return errors.New(e.Error)
	}
	body := strings.TrimSpace(string(b))
	if len(body) > 200 {
		body = body[:200] + "…"
	}
	if body == "" {
		return fmt.Errorf("admin socket answered %s", resp.Status)
	}
	return fmt.Errorf("admin socket answered %s: %q", resp.Status, body)
}

// checkSocket refuses a path that is not a socket (a symbolic link above all: whoever made it
// chooses whom we talk to) or whose owner is someone else. The client also accepts root's
// socket, for an operator who reads a root server's data directory with sudo.
func checkSocket(path string, rootOK bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("admin socket %s is a symbolic link: refusing to use it (remove it, and check who made it)", path)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("admin socket %s is not a socket: refusing to use it (remove it, and check who made it)", path)
	}
	uid := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid = int(st.Uid)
	}
	if uid != os.Geteuid() && !(rootOK && uid == 0) {
		return fmt.Errorf("admin socket %s belongs to uid %d, not to this user (uid %d): refusing to use it", path, uid, os.Geteuid())
	}
	return nil
}
