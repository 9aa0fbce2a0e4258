package host

import "github.com/stockade/stockade/netmap"

// Each instance's metadata service (package imds) listens on its VPC's router, bound to the
// router end of the instance's primary interface (netlab.ListenMetadata); the host opens it
// when the instance comes and closes it when it goes.

// Owner returns the account and region of a lab instance, as of the last reconcile; it never
// waits. The metadata service finds an instance's record with it.
func (h *Host) Owner(instance string) (netmap.Tenant, bool) {
	t, ok := (*h.owners.Load())[instance]
	return t, ok
}

// serveMetadata starts an instance's metadata service unless it is serving.
func (h *Host) serveMetadata(in Instance) {
	if h.cfg.Metadata == nil || h.metadata[in.ID] != nil {
		return
	}
	if len(in.Links) == 0 {
		return
	}
	l, err := h.cfg.Namespaces.ListenMetadata(in.Router, in.Links[0])
	if err != nil {
		h.cfg.Log.Error("metadata service", "instance", in.ID, "error", err)
		return
	}
	h.metadata[in.ID] = l
	h.scripts.Add(1)
	go func() {
		defer h.scripts.Done()
		if err := h.cfg.Metadata.Serve(l, in.ID); err != nil {
			h.cfg.Log.Warn("metadata service", "instance", in.ID, "error", err)
		}
	}()
}

// stopMetadata closes an instance's metadata service.
func (h *Host) stopMetadata(instance string) {
	if l := h.metadata[instance]; l != nil {
		l.Close()
		delete(h.metadata, instance)
	}
}
