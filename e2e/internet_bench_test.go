package e2e

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stockade/stockade/netlab"
)

// BenchmarkRouteLatency measures, with real packets, the time from a CreateRoute reply (the
// subnet's default route to its internet gateway) to the client instance, which holds an
// Elastic IP, reaching a UDP echo server on the internet host, with 10 and 1,000 lab
// instances (interfaces) on the host. DeleteRoute (enforced) undoes it between iterations.
//
//	sudo go test -run '^$' -bench RouteLatency -benchtime 200x ./e2e
func BenchmarkRouteLatency(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("interfaces=%d", n), func(b *testing.B) {
			l, rtb, igw := newInternetLatencyLab(b, n)
			l.associate(b)
			l.measure(b, func(int32) {
				l.e.route(rtb, false, func(in *ec2.CreateRouteInput) { in.GatewayId = aws.String(igw) })
			}, func(int32) {
				l.e.deleteRoute(rtb)
			})
		})
	}
}

// BenchmarkAddressLatency is the same measure for an address association: the route to the
// gateway is there, and each iteration associates an Elastic IP with the client
// (AssociateAddress) and disassociates it between iterations: without a public address the
// gateway lets nothing of the client's out.
//
//	sudo go test -run '^$' -bench AddressLatency -benchtime 200x ./e2e
func BenchmarkAddressLatency(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("interfaces=%d", n), func(b *testing.B) {
			l, rtb, igw := newInternetLatencyLab(b, n)
			l.e.route(rtb, false, func(in *ec2.CreateRouteInput) { in.GatewayId = aws.String(igw) })
			eip := must[*ec2.AllocateAddressOutput](b)(l.e.c.AllocateAddress(ctx(b), &ec2.AllocateAddressInput{Domain: types.DomainTypeVpc}))
			l.e.enforced()
			var assoc *string
			l.measure(b, func(int32) {
				out := must[*ec2.AssociateAddressOutput](b)(l.e.c.AssociateAddress(ctx(b), &ec2.AssociateAddressInput{AllocationId: eip.AllocationId, InstanceId: aws.String(l.client.ID)}))
				assoc = out.AssociationId
			}, func(int32) {
				must[*ec2.DisassociateAddressOutput](b)(l.e.c.DisassociateAddress(ctx(b), &ec2.DisassociateAddressInput{AssociationId: assoc}))
			})
		})
	}
}

// newInternetLatencyLab is a latency lab whose VPC has an internet gateway attached (no route
// to it yet), with UDP echo servers on the internet host; it returns the main route table and
// the gateway.
func newInternetLatencyLab(b *testing.B, n int) (*latencyLab, string, string) {
	l := newLatencyLab(b, n)
	igw := l.e.gateway(l.vpc)
	l.e.enforced()
	for p := range latencyPortCount {
		srv, err := netlab.Serve(l.e.internet(), latencyPorts+p)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(srv.Close)
	}
	l.dst = netlab.InternetHost
	return l, l.e.mainTable(l.vpc), igw
}

// associate gives the client an Elastic IP.
func (l *latencyLab) associate(b *testing.B) {
	eip := must[*ec2.AllocateAddressOutput](b)(l.e.c.AllocateAddress(ctx(b), &ec2.AllocateAddressInput{Domain: types.DomainTypeVpc}))
	must[*ec2.AssociateAddressOutput](b)(l.e.c.AssociateAddress(ctx(b), &ec2.AssociateAddressInput{AllocationId: eip.AllocationId, InstanceId: aws.String(l.client.ID)}))
	l.e.enforced()
}
