package control

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

func (e *eniEnv) stop(in LifecycleInput) []StateChange {
	e.t.Helper()
	return eniOK[[]StateChange](e.t)(e.s.StopInstances(e.ctx, eniTenant, in))
}

func (e *eniEnv) start(in LifecycleInput) []StateChange {
	e.t.Helper()
	return eniOK[[]StateChange](e.t)(e.s.StartInstances(e.ctx, eniTenant, in))
}

func TestLifecycleErrors(t *testing.T) {
	e := newENITestService(t, nil)
	r := e.run(RunInput{MinCount: 3, MaxCount: 3, SubnetID: e.sn.ID})
	live, dead, guarded := r.Instances[0].ID, r.Instances[1].ID, r.Instances[2].ID
	e.terminate(dead)
	if _, err := e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: guarded, DisableAPIStop: new(true)}); err != nil {
		t.Fatal(err)
	}
	stopped := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID}).Instances[0].ID
	e.stop(LifecycleInput{IDs: []string{stopped}})
	unknown := "i-0123456789abcdef0"
	stops := []errCase[LifecycleInput]{
		{"no IDs", LifecycleInput{}, "MissingParameter", "InstanceId"},
		{"unknown", LifecycleInput{IDs: []string{live, unknown}}, "InvalidInstanceID.NotFound", unknown},
		{"malformed", LifecycleInput{IDs: []string{"i-xyz"}}, "InvalidInstanceID.Malformed", "i-xyz"},
		{"terminated", LifecycleInput{IDs: []string{live, dead}}, "IncorrectInstanceState", dead},
		{"stop protection", LifecycleInput{IDs: []string{live, guarded}}, "OperationNotPermitted", "disableApiStop"},
		{"hibernate", LifecycleInput{IDs: []string{live}, Hibernate: true}, "UnsupportedHibernationConfiguration", live},
		{"dry run", LifecycleInput{IDs: []string{live}, DryRun: true}, "DryRunOperation", ""},
	}
	t.Run("stop", func(t *testing.T) { runErrorCases(t, e, stops, e.s.StopInstances) })
	starts := []errCase[LifecycleInput]{
		{"no IDs", LifecycleInput{}, "MissingParameter", "InstanceId"},
		{"unknown", LifecycleInput{IDs: []string{stopped, unknown}}, "InvalidInstanceID.NotFound", unknown},
		{"terminated", LifecycleInput{IDs: []string{stopped, dead}}, "IncorrectInstanceState", dead},
		{"dry run", LifecycleInput{IDs: []string{stopped}, DryRun: true}, "DryRunOperation", ""},
	}
	t.Run("start", func(t *testing.T) { runErrorCases(t, e, starts, e.s.StartInstances) })
	reboots := []errCase[LifecycleInput]{
		{"no IDs", LifecycleInput{}, "MissingParameter", "InstanceId"},
		{"stopped", LifecycleInput{IDs: []string{live, stopped}}, "IncorrectInstanceState", stopped},
		{"terminated", LifecycleInput{IDs: []string{dead}}, "IncorrectInstanceState", dead},
		{"dry run", LifecycleInput{IDs: []string{live}, DryRun: true}, "DryRunOperation", ""},
	}
	t.Run("reboot", func(t *testing.T) { runErrorCases(t, e, reboots, noOutput(e.s.RebootInstances)) })
}

// TestStopStartReboot walks an instance through EC2's state machine: the replies' previous
// and current states, what a stop keeps (interfaces, private address, Elastic IP) and loses
// (its launch-time public address), the boot count a host reboots on, and that all of it
// survives a restart.
func TestStopStartReboot(t *testing.T) {
	e := newENITestService(t, nil)
	inst, eni := e.launchIn(e.defaultSubnet().ID, nil) // MapPublicIpOnLaunch, and an internet gateway
	id := inst.ID
	firstPublic := eni.PublicIP
	if !firstPublic.IsValid() {
		t.Fatal("no public address at launch")
	}
	other, _ := e.launchIn(e.sn.ID, nil)

	got := e.stop(LifecycleInput{IDs: []string{id, other.ID, id}, Force: true})
	want := []StateChange{{id, model.StateRunning, model.StateStopping}, {other.ID, model.StateRunning, model.StateStopping}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stop (-want +got):\n%s", diff)
	}
	e.reopen()
	stopped := e.instance(id)
	if stopped.State != model.StateStopped || stopped.TerminationMsg != "User initiated (2026-01-02 03:04:05 GMT)" {
		t.Errorf("stored after stop: %v %q", stopped.State, stopped.TerminationMsg)
	}
	after := e.eni(eni.ID)
	if after.PublicIP.IsValid() || !after.PublicOnLaunch || after.PrivateIP != eni.PrivateIP || after.Attachment == nil {
		t.Errorf("interface after stop: public %v (on launch %v), private %v, attachment %v", after.PublicIP, after.PublicOnLaunch, after.PrivateIP, after.Attachment)
	}
	// Stopping again is stopped → stopped, and changes nothing.
	if diff := cmp.Diff([]StateChange{{id, model.StateStopped, model.StateStopped}}, e.stop(LifecycleInput{IDs: []string{id}})); diff != "" {
		t.Errorf("second stop (-want +got):\n%s", diff)
	}
	// While stopped: type and user data may change.
	typ := "m5.large"
	if _, err := e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: id, InstanceType: &typ}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: id, UserData: []byte("#!/bin/sh\necho hi\n")}); err != nil {
		t.Fatal(err)
	}

	got = e.start(LifecycleInput{IDs: []string{id, other.ID}})
	want = []StateChange{{id, model.StateStopped, model.StatePending}, {other.ID, model.StateStopped, model.StatePending}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("start (-want +got):\n%s", diff)
	}
	e.reopen()
	started := e.instance(id)
	if started.State != model.StateRunning || started.TerminationMsg != "" || started.Boots != 1 ||
		started.InstanceType != "m5.large" || string(started.UserData) != "#!/bin/sh\necho hi\n" {
		t.Errorf("after start: %+v", started)
	}
	if n := e.eni(eni.ID); !n.PublicIP.IsValid() || n.PrivateIP != eni.PrivateIP {
		t.Errorf("after start: public %v private %v", n.PublicIP, n.PrivateIP)
	}
	if n := e.eni(other.InterfaceIDs[0]); n.PublicIP.IsValid() {
		t.Errorf("an instance launched without a public address got %v at start", n.PublicIP)
	}
	if diff := cmp.Diff([]StateChange{{id, model.StateRunning, model.StateRunning}}, e.start(LifecycleInput{IDs: []string{id}})); diff != "" {
		t.Errorf("second start (-want +got):\n%s", diff)
	}
	if _, err := e.s.RebootInstances(e.ctx, eniTenant, LifecycleInput{IDs: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if b := e.instance(id).Boots; b != 2 {
		t.Errorf("boots after reboot: %d, want 2", b)
	}

	// An Elastic IP on the primary address stays through a stop, and a start takes no pool
	// address beside it.
	addr := e.allocate(eniTenant)
	if _, _, err := e.s.AssociateAddress(e.ctx, eniTenant, AssociateAddressInput{AddressRef: AddressRef{AllocationID: addr.AllocationID}, InstanceID: id}); err != nil {
		t.Fatal(err)
	}
	e.stop(LifecycleInput{IDs: []string{id}})
	e.start(LifecycleInput{IDs: []string{id}})
	if n := e.eni(eni.ID); n.PublicIP.IsValid() {
		t.Errorf("with an Elastic IP, start gave a pool address %v", n.PublicIP)
	}
	var assoc netip.Addr
	e.view(func(v View) {
		for _, a := range v.AddressesOn(eni.ID) {
			assoc = a.PublicIP
		}
	})
	if assoc != addr.PublicIP {
		t.Errorf("Elastic IP after stop and start: %v, want %v", assoc, addr.PublicIP)
	}
	// Disassociating the Elastic IP from a stopped instance gives it no pool address: that
	// waits for the start.
	e.stop(LifecycleInput{IDs: []string{id}})
	if _, err := e.s.DisassociateAddress(e.ctx, eniTenant, DisassociateAddressInput{PublicIP: addr.PublicIP.String()}); err != nil {
		t.Fatal(err)
	}
	if n := e.eni(eni.ID); n.PublicIP.IsValid() {
		t.Errorf("a stopped instance got %v when its Elastic IP went", n.PublicIP)
	}
	e.start(LifecycleInput{IDs: []string{id}})
	if n := e.eni(eni.ID); !n.PublicIP.IsValid() {
		t.Error("no public address at the start after the Elastic IP went")
	}
	// A stopped instance can be terminated, and says so.
	e.stop(LifecycleInput{IDs: []string{id}})
	if diff := cmp.Diff([]StateChange{{id, model.StateStopped, model.StateShuttingDown}}, e.terminate(id)); diff != "" {
		t.Errorf("terminate a stopped instance (-want +got):\n%s", diff)
	}
}

// TestStopReleasesPublicAddress checks the pool: the address a stop releases can be taken by
// someone else, and the start's new address is a different one.
func TestStopReleasesPublicAddress(t *testing.T) {
	e := newENITestService(t, func(c *Config) { c.Quotas.PublicIPsPerAccount = 1 })
	inst, eni := e.launchIn(e.sn.ID, new(true))
	_, _, err := e.s.AllocateAddress(e.ctx, eniTenant, AllocateAddressInput{})
	eniCheckErr(t, err, "AddressLimitExceeded", "")
	e.stop(LifecycleInput{IDs: []string{inst.ID}})
	a := e.allocate(eniTenant) // the account's one address is free again
	// Starting now needs an address the account does not have: refused, nothing changes.
	before := e.snapshot()
	_, _, err = e.s.StartInstances(e.ctx, eniTenant, LifecycleInput{IDs: []string{inst.ID}})
	eniCheckErr(t, err, "AddressLimitExceeded", "")
	e.checkUnchanged(before)
	if _, err := e.s.ReleaseAddress(e.ctx, eniTenant, ReleaseAddressInput{AddressRef: AddressRef{AllocationID: a.AllocationID}}); err != nil {
		t.Fatal(err)
	}
	e.start(LifecycleInput{IDs: []string{inst.ID}})
	if n := e.eni(eni.ID); !n.PublicIP.IsValid() {
		t.Errorf("no public address after start")
	}
}

func TestModifyInstanceWhileStopped(t *testing.T) {
	e := newENITestService(t, nil)
	id := e.run(RunInput{MinCount: 1, MaxCount: 1, SubnetID: e.sn.ID, UserData: []byte("old")}).Instances[0].ID
	e.stop(LifecycleInput{IDs: []string{id}})
	tests := []errCase[ModifyInstanceInput]{
		{"user data too long", ModifyInstanceInput{ID: id, UserData: make([]byte, MaxUserData+1)}, "InvalidParameterValue", "16384"},
		{"unknown type", ModifyInstanceInput{ID: id, InstanceType: new("x9.huge")}, "InvalidParameterValue", "x9.huge"},
		{"stop flag and type", ModifyInstanceInput{ID: id, InstanceType: new("m5.large"), DisableAPIStop: new(true)}, "InvalidParameterCombination", ""},
	}
	runErrorCases(t, e, tests, noOutput(e.s.ModifyInstance))
	if _, err := e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: id, UserData: []byte{}}); err != nil {
		t.Fatal(err)
	}
	if ud := e.instance(id).UserData; len(ud) != 0 {
		t.Errorf("user data after clearing: %q", ud)
	}
	// Stop protection does not keep a stopped instance from starting, nor a running one from
	// rebooting; it refuses the stop only.
	if _, err := e.s.ModifyInstance(e.ctx, eniTenant, ModifyInstanceInput{ID: id, DisableAPIStop: new(true)}); err != nil {
		t.Fatal(err)
	}
	e.start(LifecycleInput{IDs: []string{id}})
	if _, err := e.s.RebootInstances(e.ctx, eniTenant, LifecycleInput{IDs: []string{id}}); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.s.StopInstances(e.ctx, eniTenant, LifecycleInput{IDs: []string{id}})
	eniCheckErr(t, err, "OperationNotPermitted", id)
	e.reopen()
	if !e.instance(id).NoStop {
		t.Error("disableApiStop lost in a restart")
	}
}
