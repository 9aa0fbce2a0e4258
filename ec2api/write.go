package ec2api

import (
	"context"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

// The tail every write handler shares: record the revision the write produced, then render
// the reply.

// written records the store revision a write produced, which the server reports in the
// X-Stockade-Revision header so that a client can wait for its change to be enforced, and
// returns the writer for the reply's elements.
func (c *call) written(res control.Result) *xmlWriter {
	c.rev = res.Revision
	return &c.out
}

// returned ends a write whose whole reply is <return>true</return>, taking the service call's
// results as they come: return c.returned(c.svc().DeleteVPC(...)).
func (c *call) returned(res control.Result, err error) error {
	if err != nil {
		return err
	}
	c.written(res).bool("return", true)
	return nil
}

// deleteFunc is the shape of control's one-ID deletions (DeleteVPC, DeleteSubnet, …) as method
// expressions: (*control.Service).DeleteVPC.
type deleteFunc = func(s *control.Service, ctx context.Context, t control.Tenant, in control.IDInput) (control.Result, error)

// deleteByID is the handler of a Delete action that names one resource by the parameter param
// and answers <return>true</return>.
func deleteByID(param string, del deleteFunc) handler {
	return func(c *call) error {
		id := str(c.req, param)
		if id == "" {
			return model.Missing(param)
		}
		return c.returned(del(c.svc(), c.ctx, c.tenant, control.IDInput{ID: id, DryRun: c.dryRun()}))
	}
}
