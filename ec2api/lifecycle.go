package ec2api

// StopInstances, StartInstances and RebootInstances: the instance lifecycle after launch. The
// replies are EC2's: an instancesSet of state changes (currentState, previousState) for stop
// and start, and a bare return for reboot.

import (
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

// lifecycleInput reads the InstanceId.N list every lifecycle action takes; a malformed ID
// fails before anything is looked up, as on EC2.
func lifecycleInput(c *call) (control.LifecycleInput, error) {
	want, err := ids(c.req, "InstanceId")
	if err != nil {
		return control.LifecycleInput{}, err
	}
	if len(want) == 0 {
		return control.LifecycleInput{}, model.Missing("InstanceId")
	}
	for _, id := range want {
		if !model.ValidID(model.PrefixInstance, id) {
			return control.LifecycleInput{}, model.InvalidInstanceIDMalformed.New(id)
		}
	}
	return control.LifecycleInput{IDs: want, DryRun: c.dryRun()}, nil
}

func stopInstances(c *call) error {
	in, err := lifecycleInput(c)
	if err != nil {
		return err
	}
	// SkipOsShutdown only skips the guest's orderly shutdown: a lab sandbox has none to skip.
	if _, _, err := optBool(c.req, "SkipOsShutdown"); err != nil {
		return err
	}
	if in.Force, _, err = optBool(c.req, "Force"); err != nil {
		return err
	}
	if in.Hibernate, _, err = optBool(c.req, "Hibernate"); err != nil {
		return err
	}
	changes, res, err := c.svc().StopInstances(c.ctx, c.tenant, in)
	if err != nil {
		return err
	}
	writeStateChanges(c.written(res), changes)
	return nil
}

func startInstances(c *call) error {
	in, err := lifecycleInput(c)
	if err != nil {
		return err
	}
	changes, res, err := c.svc().StartInstances(c.ctx, c.tenant, in)
	if err != nil {
		return err
	}
	writeStateChanges(c.written(res), changes)
	return nil
}

func rebootInstances(c *call) error {
	in, err := lifecycleInput(c)
	if err != nil {
		return err
	}
	return c.returned(c.svc().RebootInstances(c.ctx, c.tenant, in))
}

// writeStateChanges writes the instancesSet of Stop/Start/TerminateInstances' replies.
func writeStateChanges(x *xmlWriter, changes []control.StateChange) {
	x.open("instancesSet")
	for _, ch := range changes {
		x.open("item")
		x.str("instanceId", ch.ID)
		x.open("currentState")
		x.int("code", int64(ch.Current.Code))
		x.str("name", ch.Current.Name)
		x.close("currentState")
		x.open("previousState")
		x.int("code", int64(ch.Previous.Code))
		x.str("name", ch.Previous.Name)
		x.close("previousState")
		x.close("item")
	}
	x.close("instancesSet")
}
