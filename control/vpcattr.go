package control

import (
	"context"

	"github.com/stockade/stockade/model"
)

// ModifyVPCAttributeInput are ModifyVpcAttribute's parameters: exactly one attribute per
// call, as on EC2; nil leaves an attribute as it is.
type ModifyVPCAttributeInput struct {
	VpcID          string
	DNSSupport     *bool // EnableDnsSupport
	DNSHostnames   *bool // EnableDnsHostnames
	NAUsageMetrics *bool // EnableNetworkAddressUsageMetrics
	DryRun         bool
}

// ModifyVPCAttribute changes one of a VPC's DNS or usage-metrics attributes. Stockade keeps
// them for clients and tools that read them back; the lab has no VPC resolver for them to
// switch on or off.
func (s *Service) ModifyVPCAttribute(ctx context.Context, t Tenant, in ModifyVPCAttributeInput) (Result, error) {
	if in.VpcID == "" {
		return Result{}, model.Missing("VpcId")
	}
	n := 0
	for _, p := range []*bool{in.DNSSupport, in.DNSHostnames, in.NAUsageMetrics} {
		if p != nil {
			n++
		}
	}
	if n != 1 {
		// [UNCONFIRMED] wording: EC2 modifies one attribute per request.
		return Result{}, model.InvalidParameterCombination.Errorf("Fields for multiple attribute types specified: enableDnsSupport, enableDnsHostnames, enableNetworkAddressUsageMetrics. Specify exactly one.")
	}
	return s.write(ctx, t, in.DryRun, func(tx *tx) error {
		vpc, err := tx.tn.vpc(in.VpcID)
		if err != nil {
			return err
		}
		c := vpc.Clone()
		switch {
		case in.DNSSupport != nil:
			c.DNSSupportOff = !*in.DNSSupport
		case in.DNSHostnames != nil:
			c.DNSHostnames = *in.DNSHostnames
		default:
			c.NAUsageMetrics = *in.NAUsageMetrics
		}
		if c.DNSSupportOff == vpc.DNSSupportOff && c.DNSHostnames == vpc.DNSHostnames && c.NAUsageMetrics == vpc.NAUsageMetrics {
			return nil // unchanged: nothing to write
		}
		set(tx, tx.tn.vpcs, kindVPC, c.ID, c)
		return nil
	})
}
