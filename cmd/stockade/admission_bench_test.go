package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockade/stockade/audit"
	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/netmap"
	"github.com/stockade/stockade/store/bolt"
)

var benchTenant = control.Tenant{Account: "111122223333", Region: "us-east-1"}

// admissionWorld is a service holding 10,000 groups of 20 ingress rules each (18 from
// private /24s, 2 referencing the next groups) and 10,000 interfaces, one per group, with
// the admission policy of the README when policy is set. It returns the groups.
//
// admitNanos, when set, adds up the time spent in the policy's Admit (the hook, without the
// snapshots control builds for it).
func admissionWorld(b *testing.B, policy bool, admitNanos *atomic.Int64) (*control.Service, []string) {
	const groups = 10000
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(b.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cfg := control.DefaultConfig()
	cfg.Log = quiet()
	cfg.Quotas.SecurityGroups, cfg.Quotas.NetworkInterfaces = groups+10, groups+10
	if policy {
		pol := &audit.AdmissionPolicy{Forbid: []string{"SGA-001", "SGA-002", "SGA-003", "SGA-005"}, Config: audit.DefaultConfig()}
		hook := pol.Hook(cfg.Now)
		cfg.Admission = func(t control.Tenant, before, after netmap.Snapshot, changed []string) error {
			start := time.Now()
			defer func() { admitNanos.Add(int64(time.Since(start))) }()
			return hook(t, before, after, changed)
		}
	}
	s, err := control.Open(ctx, st, cfg)
	if err != nil {
		b.Fatal(err)
	}
	vpc, _, err := s.CreateVPC(ctx, benchTenant, control.CreateVPCInput{CIDR: "10.0.0.0/16"})
	if err != nil {
		b.Fatal(err)
	}
	sn, _, err := s.CreateSubnet(ctx, benchTenant, control.CreateSubnetInput{VpcID: vpc.ID, CIDR: "10.0.0.0/17"})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, groups)
	// Concurrent writers of a tenant share an fsync: the load takes seconds, not minutes.
	parallel := func(f func(i int) error) {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for w := range 16 {
			wg.Go(func() {
				for i := w; i < groups; i += 16 {
					if err := f(i); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	parallel(func(i int) error {
		g, _, err := s.CreateGroup(ctx, benchTenant, control.CreateGroupInput{VpcID: vpc.ID, Name: fmt.Sprintf("g-%05d", i), Description: "scale"})
		if err == nil {
			ids[i] = g.ID
		}
		return err
	})
	parallel(func(i int) error {
		var perms []control.Permission
		for j := range 18 {
			perms = append(perms, control.Permission{Protocol: "tcp", FromPort: int64(1000 + j), ToPort: int64(1000 + j), HasFrom: true, HasTo: true,
				IPv4: []control.CIDRPeer{{CIDR: fmt.Sprintf("10.%d.%d.0/24", 1+j, i%250)}}})
		}
		for _, k := range []int{1, 2} {
			perms = append(perms, control.Permission{Protocol: "tcp", FromPort: 5432, ToPort: 5432, HasFrom: true, HasTo: true,
				Groups: []control.GroupPeer{{GroupID: ids[(i+k)%groups]}}})
		}
		_, _, err := s.Authorize(ctx, benchTenant, control.AuthorizeInput{Group: control.GroupRef{ID: ids[i]}, Permissions: perms})
		return err
	})
	parallel(func(i int) error {
		_, _, err := s.CreateENI(ctx, benchTenant, control.CreateENIInput{SubnetID: sn.ID, Groups: []string{ids[i]}})
		return err
	})
	return s, ids
}

// BenchmarkAdmissionHook is the admission policy's cost per write at 10,000 groups × 20
// rules and 10,000 interfaces: a rule authorized and revoked again (two writes per op),
// with no policy and with the README's (SGA-001/002/003/005), and a write the policy refuses
// (SSH from the world: no commit, so nearly all of it is admission).
func BenchmarkAdmissionHook(b *testing.B) {
	ctx := context.Background()
	perm := func(cidr string, port int64) []control.Permission {
		return []control.Permission{{Protocol: "tcp", FromPort: port, ToPort: port, HasFrom: true, HasTo: true, IPv4: []control.CIDRPeer{{CIDR: cidr}}}}
	}
	roundTrip := func(b *testing.B, s *control.Service, ids []string) {
		i := 0
		for b.Loop() {
			g := control.GroupRef{ID: ids[i%len(ids)]}
			i++
			if _, _, err := s.Authorize(ctx, benchTenant, control.AuthorizeInput{Group: g, Permissions: perm("10.200.0.0/16", 8080)}); err != nil {
				b.Fatal(err)
			}
			if _, _, err := s.Revoke(ctx, benchTenant, control.RevokeInput{Group: g, Permissions: perm("10.200.0.0/16", 8080)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("no-policy/authorize+revoke", func(b *testing.B) {
		s, ids := admissionWorld(b, false, nil)
		roundTrip(b, s, ids)
	})
	var admit atomic.Int64
	s, ids := admissionWorld(b, true, &admit)
	reportAdmit := func(b *testing.B, writes int) {
		b.ReportMetric(float64(admit.Swap(0))/float64(b.N*writes), "admit-ns/write")
	}
	b.Run("policy/authorize+revoke", func(b *testing.B) {
		admit.Store(0)
		roundTrip(b, s, ids)
		reportAdmit(b, 2)
	})
	b.Run("policy/refused", func(b *testing.B) {
		admit.Store(0)
		defer reportAdmit(b, 1)
		i := 0
		for b.Loop() {
			g := control.GroupRef{ID: ids[i%len(ids)]}
			i++
			if _, _, err := s.Authorize(ctx, benchTenant, control.AuthorizeInput{Group: g, Permissions: perm("0.0.0.0/0", 22)}); err == nil {
				b.Fatal("SSH from the world was admitted")
			}
		}
	})
}
