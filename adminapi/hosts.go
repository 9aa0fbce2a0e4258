package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/stockade/stockade/cluster"
)

// Hosts is what the hosts endpoints need of the control service (control.Service has it).
type Hosts interface {
	RegisterHost(ctx context.Context, h cluster.Host) error
	HostHeartbeat(ctx context.Context, name string) error
	DeregisterHost(ctx context.Context, name string) error
	HostStatuses(ctx context.Context) ([]cluster.Status, error)
}

// WithHosts serves the host registry (issue 17) and everything else from h:
//
//	GET    /v1/hosts                   the hosts with their state and what is placed on them
//	POST   /v1/hosts                   register a host (a cluster.Host as JSON)
//	POST   /v1/hosts/{name}/heartbeat  renew its lease
//	DELETE /v1/hosts/{name}            deregister an empty host
//
// An agent on etcd writes these records itself (package cluster); the endpoints are for a
// server on its own store, which no other process can write, and for tests that register
// hosts on a server they started.
func WithHosts(h http.Handler, hosts Hosts, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	fail := func(w http.ResponseWriter, err error) {
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, cluster.ErrInvalid), errors.Is(err, cluster.ErrOccupied):
			status = http.StatusBadRequest
		case errors.Is(err, cluster.ErrUnknownHost):
			status = http.StatusNotFound
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
	}
	mux.HandleFunc("GET /v1/hosts", func(w http.ResponseWriter, r *http.Request) {
		out, err := hosts.HostStatuses(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		if out == nil {
			out = []cluster.Status{}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /v1/hosts", func(w http.ResponseWriter, r *http.Request) {
		var h cluster.Host
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&h); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be a host as JSON: " + err.Error()})
			return
		}
		if err := hosts.RegisterHost(r.Context(), h); err != nil {
			log.Warn("host not registered", "host", h.Name, "via", "admin socket", "error", err)
			fail(w, err)
			return
		}
		log.Info("registered host", "host", h.Name, "zone", h.Zone, "vcpus", h.VCPUs, "memory_mib", h.MemoryMiB, "via", "admin socket")
		writeJSON(w, http.StatusOK, map[string]string{})
	})
	mux.HandleFunc("POST /v1/hosts/{name}/heartbeat", func(w http.ResponseWriter, r *http.Request) {
		if err := hosts.HostHeartbeat(r.Context(), r.PathValue("name")); err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{})
	})
	mux.HandleFunc("DELETE /v1/hosts/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := hosts.DeregisterHost(r.Context(), name); err != nil {
			fail(w, err)
			return
		}
		log.Info("deregistered host", "host", name, "via", "admin socket")
		writeJSON(w, http.StatusOK, map[string]string{})
	})
	return mux
}

// Hosts lists the server's hosts.
func (c *Client) Hosts(ctx context.Context) ([]cluster.Status, error) {
	var out []cluster.Status
	err := c.do(ctx, http.MethodGet, "/v1/hosts", "", &out)
	return out, err
}

// RegisterHost registers (or registers again) a host on the server's store.
func (c *Client) RegisterHost(ctx context.Context, h cluster.Host) error {
	body, _ := json.Marshal(h)
	return c.do(ctx, http.MethodPost, "/v1/hosts", string(body), &struct{}{})
}

// HostHeartbeat renews a host's lease.
func (c *Client) HostHeartbeat(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/hosts/"+url.PathEscape(name)+"/heartbeat", "", &struct{}{})
}

// DeregisterHost removes an empty host.
func (c *Client) DeregisterHost(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/hosts/"+url.PathEscape(name), "", &struct{}{})
}
