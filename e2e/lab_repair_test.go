package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/netlab"
)

// TestLabRouterTamperingIsRepaired (security review 6.7): someone with access to a router
// namespace adds a table of their own whose forward chain drops everything, and turns IPv4
// forwarding off. Within a few resync periods the router is Stockade's again: the foreign
// table is gone, forwarding is on, and traffic the groups allow passes.
func TestLabRouterTamperingIsRepaired(t *testing.T) {
	e := newLabEnv(t)
	vpc, def := e.vpc("10.22.0.0/16")
	sn := e.subnet(vpc, "10.22.1.0/24")
	a, b := e.launch(sn, def), e.launch(sn, def)
	e.serve(b, 8080)
	if err := netlab.TCP(a.NS, netipPort(b.IP, 8080), netlab.PassTimeout); err != nil {
		t.Fatalf("before tampering, a → b refused: %v", err)
	}
	router := e.prefix + "-" + vpc
	nsenter := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("nsenter", append([]string{"--net=" + netlab.Path(router), "--"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tamper := "table ip evil {\n\tchain gate {\n\t\ttype filter hook forward priority -10; policy drop;\n\t}\n}\n"
	c := exec.Command("nsenter", "--net="+netlab.Path(router), "--", "nft", "-f", "-")
	c.Stdin = strings.NewReader(tamper)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("adding the foreign table: %v\n%s", err, out)
	}
	nsenter("sysctl", "-qw", "net.ipv4.ip_forward=0")

	deadline := time.Now().Add(15 * time.Second) // resync is 500 ms in labEnv
	for {
		tables := nsenter("nft", "list", "tables")
		fwd := strings.TrimSpace(nsenter("cat", "/proc/sys/net/ipv4/ip_forward"))
		if !strings.Contains(tables, "evil") && fwd == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("router not repaired: tables %q, ip_forward=%s\n%s", tables, fwd, e.s.stderr.String())
		}
		time.Sleep(100 * time.Millisecond) // polling the repair; bounded by the deadline
	}
	if err := netlab.TCP(a.NS, netipPort(b.IP, 8080), netlab.PassTimeout); err != nil {
		t.Errorf("after the repair, a → b refused: %v", err)
	}
}
