package ec2api

import "github.com/stockade/stockade/control"

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
