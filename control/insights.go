package control

import (
	"cmp"
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/stockade/stockade/model"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/reach"
)

// CreateInsightsPathInput are CreateNetworkInsightsPath's parameters.
type CreateInsightsPathInput struct {
	Source, Destination     string
	SourceIP, DestinationIP string
	Protocol                string
	DestinationPort         int64
	HasPort                 bool
	Tags                    model.Tags
	ClientToken             string
	DryRun                  bool
}

// CreateInsightsPath stores a Network Insights path after checking that its ends exist: the
// source is an interface or instance; the destination an interface or instance, or only an
// address (outside the VPC, or of an interface). Either end may instead be an internet gateway
// (the internet beyond it) when the other is an interface or instance.
func (s *Service) CreateInsightsPath(ctx context.Context, t Tenant, in CreateInsightsPathInput) (*model.InsightsPath, Result, error) {
	p := &model.InsightsPath{Source: in.Source, Destination: in.Destination, Protocol: in.Protocol,
		DestinationPort: int32(in.DestinationPort), HasPort: in.HasPort, Tags: in.Tags.Clone()}
	switch in.Protocol {
	case "tcp", "udp":
	case "":
		return nil, Result{}, model.Missing("Protocol")
	default:
		return nil, Result{}, model.InvalidValue("Value (%s) for parameter protocol is invalid. Valid values: tcp, udp.", in.Protocol)
	}
	if in.HasPort && (in.DestinationPort < 0 || in.DestinationPort > 65535) {
		return nil, Result{}, model.InvalidValue("Value (%d) for parameter destinationPort is invalid. It must be 0-65535.", in.DestinationPort)
	}
	for _, a := range []struct {
		v   string
		dst *netip.Addr
		arg string
	}{{in.SourceIP, &p.SourceIP, "sourceIp"}, {in.DestinationIP, &p.DestinationIP, "destinationIp"}} {
		if a.v == "" {
			continue
		}
		addr, err := netip.ParseAddr(a.v)
		if err != nil || !addr.Is4() {
			return nil, Result{}, model.InvalidValue("Value (%s) for parameter %s is invalid. It must be an IPv4 address.", a.v, a.arg)
		}
		*a.dst = addr
	}
	if in.Source == "" {
		return nil, Result{}, model.Missing("Source")
	}
	if in.Destination == "" && !p.DestinationIP.IsValid() {
		return nil, Result{}, model.MissingParameter.Errorf("Either Destination or DestinationIp must be specified.")
	}
	var out *model.InsightsPath
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		fp := fingerprint("CreateNetworkInsightsPath", in)
		if prev, done, err := tx.replay("CreateNetworkInsightsPath", in.ClientToken, fp); err != nil || done {
			if done {
				out = tx.tn.paths[prev[0]]
			}
			return err
		}
		if len(tx.tn.paths) >= s.cfg.Quotas.InsightsPaths {
			return model.ResourceLimitExceeded.Errorf("You have exceeded an Amazon EC2 resource limit: at most %d Network Insights paths per Region.", s.cfg.Quotas.InsightsPaths)
		}
		if err := tx.tn.pathEnd(in.Source, p.SourceIP); err != nil {
			return err
		}
		if in.Destination != "" {
			if err := tx.tn.pathEnd(in.Destination, p.DestinationIP); err != nil {
				return err
			}
		}
		// An internet gateway is the internet's end of a path: the other end is an interface
		// or instance (as Reachability Analyzer asks). [UNCONFIRMED] AWS's exact message.
		if model.IDPrefix(in.Source) == model.PrefixIGW && (in.Destination == "" || model.IDPrefix(in.Destination) == model.PrefixIGW) {
			return model.InvalidValue("The destination of a path from internet gateway %s must be a network interface (eni-…) or an instance (i-…).", in.Source)
		}
		p.ID, p.Created = model.NewID(model.PrefixInsightsPath), tx.now
		set(tx, tx.tn.paths, kindPath, p.ID, p)
		tx.remember("CreateNetworkInsightsPath", in.ClientToken, fp, p.ID)
		out = p
		return nil
	})
	return out, res, err
}

// pathEnd checks one end of a path: an interface or instance that exists and, when an address
// is given too, holds it.
func (tn *tenant) pathEnd(id string, addr netip.Addr) error {
	var enis []*model.NetworkInterface
	switch model.IDPrefix(id) {
	case model.PrefixENI:
		n, err := tn.eni(id)
		if err != nil {
			return err
		}
		enis = append(enis, n)
	case model.PrefixInstance:
		in, err := tn.instance(id)
		if err != nil {
			return err
		}
		for _, n := range tn.enis {
			if n.Attachment != nil && n.Attachment.InstanceID == in.ID {
				enis = append(enis, n)
			}
		}
	case model.PrefixIGW:
		// The gateway must exist; an address given with it is an internet address, not one
		// of the gateway's, so it is not checked against it.
		_, err := tn.igw(id)
		return err
	default:
		return model.InvalidValue("The resource '%s' is not supported as a path end: give a network interface (eni-…), an instance (i-…) or an internet gateway (igw-…).", id)
	}
	if !addr.IsValid() {
		return nil
	}
	for _, n := range enis {
		for _, a := range n.Addrs() {
			if a == addr {
				return nil
			}
		}
	}
	return model.InvalidValue("The address %s does not belong to %s.", addr, id)
}

// DeleteInsightsPath deletes a path that has no analyses left.
func (s *Service) DeleteInsightsPath(ctx context.Context, t Tenant, in IDInput) (Result, error) {
	id := in.ID
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		if _, err := tx.tn.path(id); err != nil {
			return err
		}
		// UNCONFIRMED: EC2's answer for a path that still has analyses; Stockade refuses, as it
		// does for every other resource something depends on.
		for _, a := range tx.tn.analyses {
			if a.PathID == id {
				return model.DependencyViolation.Errorf("The network insights path '%s' has analyses (%s): delete them first.", id, a.ID)
			}
		}
		set[model.InsightsPath](tx, tx.tn.paths, kindPath, id, nil)
		return nil
	})
}

// path returns InsightsPath by ID or EC2's not-found error.
func (tn *tenant) path(id string) (*model.InsightsPath, error) {
	return find(tn.paths, id, "", nil, model.InvalidNetworkInsightsPathIdNotFound)
}

// analysis returns InsightsAnalysis by ID or EC2's not-found error.
func (tn *tenant) analysis(id string) (*model.InsightsAnalysis, error) {
	return find(tn.analyses, id, "", nil, model.InvalidNetworkInsightsAnalysisIdNotFound)
}

// StartInsightsAnalysisInput are StartNetworkInsightsAnalysis' parameters.
type StartInsightsAnalysisInput struct {
	PathID      string
	Tags        model.Tags
	ClientToken string
	DryRun      bool
}

// StartInsightsAnalysis analyses a path against the tenant's state as of the call and stores
// the result: the analysis is complete (succeeded, or failed with a message when an end of the
// path no longer exists) when the call returns.
//
// The analysis compiles the tenant's whole network, which can take long; it runs on a
// consistent snapshot taken under the read lock (the objects are immutable) and outside every
// lock, so that the tenant's other writes are not held behind it. Only storing the result is a
// write, which checks again that the path exists and replays a token another call with the
// same ClientToken completed in the meantime.
func (s *Service) StartInsightsAnalysis(ctx context.Context, t Tenant, in StartInsightsAnalysisInput) (*model.InsightsAnalysis, Result, error) {
	pathID, tags, token, dryRun := in.PathID, in.Tags, in.ClientToken, in.DryRun
	if err := model.ValidateClientToken(token); err != nil {
		return nil, Result{}, err
	}
	fp := fingerprint("StartNetworkInsightsAnalysis", []any{pathID, tags}) // as before the input struct: stored tokens stay valid
	var (
		prev  *model.InsightsAnalysis
		path  *model.InsightsPath
		snap  netmap.Snapshot
		start time.Time
	)
	err := s.read(ctx, t, func(tn *tenant) error {
		if ids, done, err := tn.replay("StartNetworkInsightsAnalysis", token, fp); err != nil || done {
			if done {
				prev = tn.analyses[ids[0]]
			}
			return err
		}
		p, err := tn.path(pathID)
		if err != nil {
			return err
		}
		path, snap, start = p, tn.snapshot(), s.cfg.Now().UTC()
		return nil
	})
	switch {
	case err != nil:
		return nil, Result{}, err
	case prev != nil && dryRun:
		return nil, Result{}, model.DryRunOperation.New()
	case prev != nil:
		return prev, Result{Revision: s.st.Revision()}, nil
	}
	a := &model.InsightsAnalysis{PathID: path.ID, Started: start, Status: "succeeded", Tags: tags.Clone()}
	if !dryRun {
		if err := analyse(snap, path, a); err != nil {
			a.Status, a.StatusMessage = "failed", err.Error()
		}
	}
	var out *model.InsightsAnalysis
	res, err := s.write(ctx, t, dryRun, func(tx *tx) error {
		if prev, done, err := tx.replay("StartNetworkInsightsAnalysis", token, fp); err != nil || done {
			if done {
				out = tx.tn.analyses[prev[0]]
			}
			return err
		}
		if _, err := tx.tn.path(pathID); err != nil { // deleted while the analysis ran
			return err
		}
		a.ID = model.NewID(model.PrefixAnalysis)
		tx.dropOldAnalyses(pathID, s.cfg.Quotas.AnalysesPerPath-1)
		set(tx, tx.tn.analyses, kindAnalysis, a.ID, a)
		tx.remember("StartNetworkInsightsAnalysis", token, fp, a.ID)
		out = a
		return nil
	})
	return out, res, err
}

// analyseHook, when set (by tests only), runs inside analyse after the snapshot was taken: it
// lets a test observe that no tenant lock is held while the analyser works.
var analyseHook func()

// analyse runs the analyser over a snapshot of the tenant's network for one path.
func analyse(snap netmap.Snapshot, p *model.InsightsPath, out *model.InsightsAnalysis) error {
	if analyseHook != nil {
		analyseHook()
	}
	an, err := reach.New(snap)
	if err != nil {
		return err
	}
	q := reach.Question{From: p.Source, To: p.Destination, Protocol: p.Protocol, Port: uint16(p.DestinationPort), AnyPort: !p.HasPort}
	// An address replaces an interface end (it picks one of its addresses), not a gateway end.
	if p.SourceIP.IsValid() && model.IDPrefix(p.Source) != model.PrefixIGW {
		q.From = p.SourceIP.String()
	}
	if p.DestinationIP.IsValid() && model.IDPrefix(p.Destination) != model.PrefixIGW {
		q.To = p.DestinationIP.String()
	}
	ans, err := an.Path(q)
	var nf *reach.ErrNotFound
	if errors.As(err, &nf) {
		return errors.New("The request failed due to missing component " + nf.ID)
	}
	if err != nil {
		return err
	}
	out.PathFound, out.Explanations, out.Forward, out.Return = an.Insights(ans)
	return nil
}

// DeleteInsightsAnalysis deletes an analysis.
func (s *Service) DeleteInsightsAnalysis(ctx context.Context, t Tenant, in IDInput) (Result, error) {
	id := in.ID
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		if _, err := tx.tn.analysis(id); err != nil {
			return err
		}
		set[model.InsightsAnalysis](tx, tx.tn.analyses, kindAnalysis, id, nil)
		return nil
	})
}

// dropOldAnalyses deletes a path's oldest analyses (by start time, then ID) until at most keep
// are left (Quotas.AnalysesPerPath).
func (tx *tx) dropOldAnalyses(pathID string, keep int) {
	var of []*model.InsightsAnalysis
	for _, a := range tx.tn.analyses {
		if a.PathID == pathID {
			of = append(of, a)
		}
	}
	if len(of) <= keep {
		return
	}
	slices.SortFunc(of, func(a, b *model.InsightsAnalysis) int {
		return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.ID, b.ID))
	})
	for _, a := range of[:len(of)-keep] {
		set[model.InsightsAnalysis](tx, tx.tn.analyses, kindAnalysis, a.ID, nil)
	}
}
