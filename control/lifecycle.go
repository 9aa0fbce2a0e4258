package control

// The instance lifecycle after launch: stop, start and reboot (spec §1.3's state machine).
// Stockade's transitions are immediate, so the stored state is always stable (running,
// stopped or terminated) and the replies show the transitional state EC2 shows at the moment
// of the call (stopping, pending), as RunInstances' reply shows pending. What a stop keeps:
// the instance's interfaces, private addresses, Elastic IPs and attachments; what it loses:
// its launch-time public IPv4 address, which goes back to the pool and is replaced by a new
// one at the next start (EC2 user guide, "Public IPv4 addresses": "We release your
// instance's public IP address when it is stopped").

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/stockade/stockade/model"
)

// LifecycleInput are the parameters of StopInstances, StartInstances and RebootInstances.
type LifecycleInput struct {
	IDs []string
	// Force and Hibernate are StopInstances' own. Force changes nothing here: Stockade's stop
	// never hangs. Hibernate is refused, since no instance is launched with hibernation.
	Force, Hibernate bool
	DryRun           bool
}

// maxLifecycleIDs bounds one call, as TerminateInstances' list is.
const maxLifecycleIDs = 1000

func (in LifecycleInput) check() error {
	switch {
	case len(in.IDs) == 0:
		return model.Missing("InstanceId")
	case len(in.IDs) > maxLifecycleIDs:
		return model.InvalidValue("At most %d instance IDs may be given", maxLifecycleIDs)
	}
	return nil
}

// transitionReason is EC2's StateTransitionReason for a user's stop or termination.
func transitionReason(now time.Time) string {
	return fmt.Sprintf("User initiated (%s GMT)", now.UTC().Format("2006-01-02 15:04:05"))
}

// transition is the shape of StopInstances and StartInstances: every instance is checked by
// refuse before any changes (all or nothing); one already in the target state answers
// target → target and is left alone; each other one is staged by change.
func (s *Service) transition(ctx context.Context, t Tenant, in LifecycleInput, target, shown model.InstanceState,
	refuse func(*model.Instance) error, change func(tx *tx, c *model.Instance) error) ([]StateChange, Result, error) {
	if err := in.check(); err != nil {
		return nil, Result{}, err
	}
	var out []StateChange
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		insts, err := tx.tn.instancesOf(in.IDs)
		if err != nil {
			return err
		}
		for _, inst := range insts {
			if err := refuse(inst); err != nil {
				return err
			}
		}
		for _, inst := range insts {
			if inst.State == target {
				out = append(out, StateChange{inst.ID, target, target})
				continue
			}
			out = append(out, StateChange{inst.ID, inst.State, shown})
			c := inst.Clone()
			c.State = target
			if err := change(tx, c); err != nil {
				return err
			}
			set(tx, tx.tn.instances, kindInstance, c.ID, c)
		}
		return nil
	})
	if err != nil {
		return nil, res, err
	}
	return out, res, nil
}

// StopInstances stops running instances, all or nothing: a stopped instance runs nothing on
// its host, keeps its interfaces and private addresses and releases its launch-time public
// address. Stopping a stopped instance answers stopped → stopped, as EC2 does.
func (s *Service) StopInstances(ctx context.Context, t Tenant, in LifecycleInput) ([]StateChange, Result, error) {
	refuse := func(inst *model.Instance) error {
		switch {
		case inst.State == model.StateTerminated:
			// [UNCONFIRMED] wording; the code is EC2's for a stop of a terminated instance.
			return model.IncorrectInstanceState.Errorf("This instance '%s' is not in a state from which it can be stopped.", inst.ID)
		case inst.NoStop && inst.State == model.StateRunning:
			// [UNCONFIRMED] wording, modelled on termination protection's.
			return model.OperationNotPermitted.Errorf("The instance '%s' may not be stopped. Modify its 'disableApiStop' instance attribute and try again.", inst.ID)
		case in.Hibernate && inst.State == model.StateRunning:
			return model.UnsupportedHibernationConfiguration.Errorf("The instance %s does not have hibernation enabled. Hibernation must be enabled at launch.", inst.ID)
		}
		return nil
	}
	return s.transition(ctx, t, in, model.StateStopped, model.StateStopping, refuse, func(tx *tx, c *model.Instance) error {
		c.TerminationMsg = transitionReason(tx.now)
		for _, eid := range c.InterfaceIDs {
			n := tx.tn.enis[eid]
			if n == nil || !n.PublicIP.IsValid() {
				continue
			}
			// PublicOnLaunch stays: the next start gives the interface a new address.
			d := n.Clone()
			tx.releasePublic(d.PublicIP)
			d.PublicIP = netip.Addr{}
			set(tx, tx.tn.enis, kindENI, eid, d)
		}
		return nil
	})
}

// StartInstances starts stopped instances, all or nothing: the host boots each again on its
// interfaces, and an interface that had a launch-time public address gets a new one from the
// pool unless an Elastic IP holds its primary private address. Starting a running instance
// answers running → running.
func (s *Service) StartInstances(ctx context.Context, t Tenant, in LifecycleInput) ([]StateChange, Result, error) {
	refuse := func(inst *model.Instance) error {
		if inst.State == model.StateTerminated {
			// [UNCONFIRMED] wording; the code is EC2's.
			return model.IncorrectInstanceState.Errorf("This instance '%s' is not in a state from which it can be started.", inst.ID)
		}
		return nil
	}
	return s.transition(ctx, t, in, model.StateRunning, model.StatePending, refuse, func(tx *tx, c *model.Instance) error {
		c.TerminationMsg = ""
		c.Boots++
		for _, eid := range c.InterfaceIDs {
			n := tx.tn.enis[eid]
			if n == nil || !n.PublicOnLaunch || n.PublicIP.IsValid() || tx.tn.addressOn(n.ID, n.PrivateIP) != nil {
				continue
			}
			ip, err := tx.takePublic(n.ID, netip.Addr{})
			if err != nil {
				return err
			}
			d := n.Clone()
			d.PublicIP = ip
			set(tx, tx.tn.enis, kindENI, eid, d)
		}
		return nil
	})
}

// RebootInstances restarts running instances' sandboxes: the host stops every process of the
// instance and boots it again on the same interfaces and addresses (user data does not run
// again: it runs at first boot only). A stopped or terminated instance is refused.
func (s *Service) RebootInstances(ctx context.Context, t Tenant, in LifecycleInput) (Result, error) {
	if err := in.check(); err != nil {
		return Result{}, err
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		insts, err := tx.tn.instancesOf(in.IDs)
		if err != nil {
			return err
		}
		for _, inst := range insts {
			if inst.State != model.StateRunning {
				// [UNCONFIRMED] wording; the code is EC2's.
				return model.IncorrectInstanceState.Errorf("The instance '%s' is not in a state from which it can be rebooted.", inst.ID)
			}
		}
		for _, inst := range insts {
			c := inst.Clone()
			c.Boots++
			set(tx, tx.tn.instances, kindInstance, c.ID, c)
		}
		return nil
	})
}

// stoppedInstance reports whether id is a stopped instance of the tenant.
func (tn *tenant) stoppedInstance(id string) bool {
	in := tn.instances[id]
	return in != nil && in.Stopped()
}

// instancesOf returns the instances of ids, each once, in the order given; any unknown ID
// fails the whole list.
func (tn *tenant) instancesOf(ids []string) ([]*model.Instance, error) {
	seen := make(map[string]bool, len(ids))
	out := make([]*model.Instance, 0, len(ids))
	for _, id := range ids {
		inst, err := tn.instance(id)
		if err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, inst)
		}
	}
	return out, nil
}
