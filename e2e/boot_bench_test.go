package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/stockade/stockade/image"
)

// BenchmarkBoot measures how long an instance takes from the RunInstances reply to its user
// data starting (the script's first command prints the clock to the console), for one
// instance and for 50 launched by one RunInstances call into a VPC that has a running
// instance, and what each idle instance (its
// namespace, interfaces, sandbox, sshd) costs the host in memory: the drop of MemAvailable
// once the 50 have booted and settled, divided by 50.
//
//	sudo go test -run '^$' -bench Boot -benchtime 5x ./e2e
func BenchmarkBoot(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			e := newLabEnv(b)
			vpc, def := e.vpc("10.50.0.0/16")
			sn := e.subnet(vpc, "10.50.0.0/20")
			// One instance stays: its VPC's router is up, as in a VPC in use (the first instance
			// of a VPC also waits for its router: namespace and ruleset, about 20 ms more).
			e.launch(sn, def)
			script := b64("#!/bin/sh\necho \"started $(date +%s%N)\"\n")
			var lat []time.Duration
			var perInstance float64
			for i := 0; i < b.N; i++ {
				before := memAvailable(b)
				out := must[*ec2.RunInstancesOutput](b)(e.c.RunInstances(ctx(b), &ec2.RunInstancesInput{
					ImageId: aws.String(image.DefaultID), InstanceType: "t3.nano", MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n)),
					SubnetId: aws.String(sn), SecurityGroupIds: []string{def}, UserData: aws.String(script)}))
				replied := time.Now()
				var ids []string
				for _, in := range out.Instances {
					ids = append(ids, aws.ToString(in.InstanceId))
				}
				for _, id := range ids {
					lat = append(lat, time.Unix(0, e.startedAt(id)).Sub(replied))
				}
				if n > 1 && i == 0 {
					time.Sleep(2 * time.Second) // sshd and the scripts settle
					perInstance = float64(before-memAvailable(b)) / float64(n) / (1 << 20)
				}
				must[*ec2.TerminateInstancesOutput](b)(e.c.TerminateInstances(ctx(b), &ec2.TerminateInstancesInput{InstanceIds: ids}))
				e.enforced()
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "ms-p99")
			if perInstance > 0 {
				b.ReportMetric(perInstance, "MiB/instance")
			}
		})
	}
}

// startedAt waits for an instance's user data to print its start and returns that clock
// reading (ns since the epoch), reading the console log the server keeps.
func (e *labEnv) startedAt(id string) int64 {
	e.t.Helper()
	path := filepath.Join(e.s.dataDir, "lab", id+".log")
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		if _, rest, ok := strings.Cut(string(b), "started "); ok {
			v, _, _ := strings.Cut(rest, "\n")
			if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
				return ns
			}
		}
	}
	e.t.Fatalf("%s: user data never started", id)
	return 0
}

// memAvailable is the host's MemAvailable, in bytes.
func memAvailable(t testing.TB) int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "MemAvailable:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no MemAvailable in /proc/meminfo")
	return 0
}
