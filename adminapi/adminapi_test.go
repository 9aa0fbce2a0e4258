package adminapi

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/auth"
	"github.com/stockade/stockade/internal/syncbuf"
	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/store/bolt"
)

// serve runs h on the admin socket of a new data directory and returns that directory.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	dir := t.TempDir()
	l, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return dir
}

func registry(t *testing.T) *auth.Registry {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "stockade.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, err := auth.Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(context.Background(), "admin", true); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAccountsSnapshotAndLab(t *testing.T) {
	ctx := context.Background()
	accounts := registry(t)
	var logs syncbuf.Buffer
	type asked struct{ account, region string }
	var mu sync.Mutex
	var got []asked
	snap := func(_ context.Context, account, region string) (State, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, asked{account, region})
		return State{Snapshot: netmap.Snapshot{VPCs: []*model.VPC{{ID: "vpc-0123456789abcdef0"}}}, FlowLogs: []*model.FlowLog{}}, nil
	}
	dir := serve(t, Handler(accounts, snap, nil, slog.New(slog.NewTextHandler(&logs, nil))))
	c := Dial(dir)

	alice, err := c.CreateAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if alice.Name != "alice" || alice.SecretAccessKey == "" || len(alice.ID) != 12 {
		t.Errorf("created %+v", alice)
	}
	if l := logs.String(); !strings.Contains(l, "created account") || !strings.Contains(l, "account="+alice.ID) || !strings.Contains(l, "name=alice") ||
		strings.Contains(l, alice.SecretAccessKey) {
		t.Errorf("account creation not logged (or the secret was): %s", l)
	}
	if _, err := c.CreateAccount(ctx, "alice"); err == nil || err.Error() == "" {
		t.Errorf("duplicate name: %v", err)
	}
	list, err := c.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range list {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	if d := cmp.Diff([]string{"admin", "alice"}, names); d != "" {
		t.Errorf("accounts (-want +got):\n%s", d)
	}
	admin, _ := accounts.Admin()
	s, err := c.Snapshot(ctx, "", "us-east-1")
	if err != nil || len(s.VPCs) != 1 {
		t.Fatalf("snapshot: %+v %v", s, err)
	}
	if st, err := c.State(ctx, "alice", "eu-west-1"); err != nil || len(st.VPCs) != 1 || st.FlowLogs == nil || st.Instances != nil {
		t.Fatalf("state: %+v %v", st, err) // empty lists stay empty, not-sent ones nil
	}
	mu.Lock()
	if d := cmp.Diff([]asked{{admin.ID, "us-east-1"}, {alice.ID, "eu-west-1"}}, got, cmp.AllowUnexported(asked{})); d != "" {
		t.Errorf("snapshots asked for (-want +got):\n%s", d)
	}
	mu.Unlock()
	if _, err := c.Snapshot(ctx, "mallory", "us-east-1"); err == nil || !strings.Contains(err.Error(), `no account "mallory"`) {
		t.Errorf("unknown account: %v", err)
	}
	if _, err := c.LabInstances(ctx); err == nil || err.Error() != ErrNoLab.Error() {
		t.Errorf("lab on a server without one: %v", err)
	}
}

// TestClientErrors: an answer that is not the admin API's JSON still gives an error that says
// what came back (it used to be an empty error).
func TestClientErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"plain text", http.StatusInternalServerError, "boom\n", `admin socket answered 500 Internal Server Error: "boom"`},
		{"empty", http.StatusBadGateway, "", "admin socket answered 502 Bad Gateway"},
		{"JSON without error", http.StatusNotFound, `{"message":"x"}`, `admin socket answered 404 Not Found: "{\"message\":\"x\"}"`},
		{"the API's error", http.StatusBadRequest, `{"error":"name taken"}`, "name taken"},
		{"bad success body", http.StatusOK, `[`, "admin socket: unreadable answer to GET /v1/accounts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			_, err := Dial(dir).ListAccounts(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	_, err := Dial(t.TempDir()).ListAccounts(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no stockade server is running with data directory") {
		t.Errorf("no server: %v", err)
	}
}

// TestSocketIsNoLink is the security review's 4.6: whoever can put a link (or their own
// socket) at admin.sock must not receive the operator's requests, nor have the server follow it.
func TestSocketIsNoLink(t *testing.T) {
	var hit sync.Mutex
	hits := 0
	foreign := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hit.Lock()
		hits++
		hit.Unlock()
		w.Write([]byte("[]"))
	}))
	dir := t.TempDir()
	link := filepath.Join(dir, SocketName)
	if err := os.Symlink(filepath.Join(foreign, SocketName), link); err != nil {
		t.Fatal(err)
	}
	_, err := Dial(dir).ListAccounts(context.Background())
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("client through a link: %v", err)
	}
	if l, err := Listen(dir); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		if l != nil {
			l.Close()
		}
		t.Errorf("server on a link: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was removed or replaced: %v", err)
	}
	hit.Lock()
	if hits != 0 {
		t.Errorf("the foreign socket got %d requests", hits)
	}
	hit.Unlock()

	// A regular file at the socket's path is not ours to remove either.
	dir = t.TempDir()
	os.WriteFile(filepath.Join(dir, SocketName), []byte("x"), 0o600)
	if _, err := Listen(dir); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("server on a file: %v", err)
	}
	if os.Geteuid() != 0 {
		return
	}
	// Someone else's socket is refused by the server and the client alike.
	dir = t.TempDir()
	l, err := net.Listen("unix", filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Lchown(filepath.Join(dir, SocketName), 65534, 65534)
	if _, err := Dial(dir).ListAccounts(context.Background()); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Errorf("client on another user's socket: %v", err)
	}
	if _, err := Listen(dir); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Errorf("server on another user's socket: %v", err)
	}
}
