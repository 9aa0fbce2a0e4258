package ec2api

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/image"
)

// The odd-input property: whatever the values of a request's parameters — very long strings,
// control characters, invalid UTF-8, huge or negative numbers, huge indices — no action of
// the route table makes the service stop (control.Service.Err stays nil: the /healthz
// condition), none answers with a server error, and a normal write still succeeds afterwards.
// A 40,000-character ClientToken used to stop the service for every tenant (security review
// §6.1). TestOddInputs is the deterministic seeded run; FuzzOddInputs lets the fuzzer pick.

// oddServer is an emulator-mode API (no signatures: requests without credentials are the
// emulator account's) on a real bolt store, with a small network whose IDs the requests use so
// that odd values get past the not-found checks to the store.
type oddServer struct {
	api    *Server
	svc    *control.Service
	ids    map[string]string       // parameter name → a valid ID for it
	params map[string][]modelParam // per action, the parameters it accepts
	routes []string                // every action, sorted
}

func newOddServer(tb testing.TB) *oddServer {
	tb.Helper()
	api, svc := newEmulatorAPI(tb)
	o := &oddServer{api: api, svc: svc, ids: map[string]string{}}
	for a := range routes {
		o.routes = append(o.routes, a)
	}
	slices.Sort(o.routes)
	o.params = actionParams(tb)
	for _, a := range o.routes {
		if len(o.params[a]) == 0 && a != "DescribeAccountAttributes" && a != "DescribeRegions" && a != "DescribeAvailabilityZones" {
			tb.Logf("action %s has no parameters in the model table", a)
		}
	}

	must := func(action string, params ...string) string {
		v := url.Values{}
		for i := 0; i < len(params); i += 2 {
			v.Set(params[i], params[i+1])
		}
		rec := o.send(action, v)
		if rec.Code != http.StatusOK {
			tb.Fatalf("setup %s: %d %s", action, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	vpc := field(must("CreateVpc", "CidrBlock", "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock", "true"), "vpcId")
	subnet := field(must("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24", "AvailabilityZone", "us-east-1a"), "subnetId")
	group := field(must("CreateSecurityGroup", "VpcId", vpc, "GroupName", "web", "GroupDescription", "web"), "groupId")
	eni := field(must("CreateNetworkInterface", "SubnetId", subnet), "networkInterfaceId")
	pl := field(must("CreateManagedPrefixList", "PrefixListName", "pl", "AddressFamily", "IPv4", "MaxEntries", "5"), "prefixListId")
	acl := field(must("CreateNetworkAcl", "VpcId", vpc), "networkAclId")
	path := field(must("CreateNetworkInsightsPath", "Source", eni, "DestinationIp", "8.8.8.8", "Protocol", "tcp", "ClientToken", "setup"), "networkInsightsPathId")
	inst := field(must("RunInstances", "ImageId", image.DefaultID, "MinCount", "1", "MaxCount", "1", "SubnetId", subnet), "instanceId")
	rtb := field(must("CreateRouteTable", "VpcId", vpc), "routeTableId")
	igw := field(must("CreateInternetGateway"), "internetGatewayId")
	eigw := field(must("CreateEgressOnlyInternetGateway", "VpcId", vpc), "egressOnlyInternetGatewayId")
	must("ImportKeyPair", "KeyName", "k", "PublicKeyMaterial", b64("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdKzYyhg0BT3Ls7XQ5V5jSEKsy4xEUx3yXcVSAu9qUx k"))
	for k, v := range map[string]string{"VpcId": vpc, "SubnetId": subnet, "GroupId": group, "NetworkInterfaceId": eni,
		"PrefixListId": pl, "NetworkAclId": acl, "NetworkInsightsPathId": path, "InstanceId": inst, "InstanceId.1": inst,
		"ResourceId.1": group, "Source": eni, "SecurityGroupId.1": group, "GroupName": "web", "KeyName": "k",
		"ImageId": image.DefaultID, "MinCount": "1", "MaxCount": "1", "Protocol": "tcp", "AddressFamily": "IPv4",
		"MaxEntries": "5", "PrefixListName": "pl2", "GroupDescription": "d", "CidrBlock": "10.0.2.0/24",
		"RouteTableId": rtb, "RouteTableId.1": rtb, "InternetGatewayId": igw, "InternetGatewayId.1": igw,
		"EgressOnlyInternetGatewayId": eigw, "EgressOnlyInternetGatewayId.1": eigw, "DestinationCidrBlock": "192.168.0.0/16"} {
		o.ids[k] = v
	}
	// An option set, so that odd values reach the DHCP actions past their not-found checks.
	dopt := field(must("CreateDhcpOptions", "DhcpConfiguration.1.Key", "domain-name", "DhcpConfiguration.1.Value.1", "odd.example"), "dhcpOptionsId")
	o.ids["DhcpOptionsId"], o.ids["DhcpOptionsId.1"] = dopt, dopt
	return o
}

// modelParam is one parameter pattern of an action ("IpPermissions.N.FromPort") and its kind.
type modelParam struct {
	pattern, kind string
	required      bool
}

// actionParams reads the parameter table the decoder checks requests against (query's
// model_gen.go, generated from the EC2 model): every parameter each action accepts. Reading it
// from the source keeps the test covering new actions and parameters without editing it, and
// means the odd values reach the handlers instead of stopping at UnknownParameter.
func actionParams(tb testing.TB) map[string][]modelParam {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("query", "model_gen.go"))
	if err != nil {
		tb.Fatal(err)
	}
	actionRE := regexp.MustCompile(`^\t"(\w+)": \{$`)
	paramRE := regexp.MustCompile(`^\t\t\{"([^"]+)", kind(\w+), (true|false)\},$`)
	out := map[string][]modelParam{}
	var action string
	for _, line := range strings.Split(string(b), "\n") {
		if m := actionRE.FindStringSubmatch(line); m != nil {
			action = m[1]
		} else if m := paramRE.FindStringSubmatch(line); m != nil && action != "" {
			out[action] = append(out[action], modelParam{m[1], m[2], m[3] == "true"})
		}
	}
	if len(out) < 20 {
		tb.Fatalf("read the parameters of only %d actions from query/model_gen.go", len(out))
	}
	return out
}

func (o *oddServer) send(action string, params url.Values) *httptest.ResponseRecorder {
	v := url.Values{"Action": {action}, "Version": {"2016-11-15"}}
	for k, vs := range params {
		v[k] = vs
	}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	o.api.ServeHTTP(rec, req)
	return rec
}

// check sends one request and fails unless the reply is EC2's (a success or a client error)
// and the service still works.
func (o *oddServer) check(t testing.TB, action string, params url.Values) {
	t.Helper()
	rec := o.send(action, params)
	if rec.Code >= 500 {
		t.Fatalf("%s %s: status %d: %.300s", action, shorten(params), rec.Code, rec.Body)
	}
	if err := o.svc.Err(); err != nil {
		t.Fatalf("%s %s stopped the service: %v", action, shorten(params), err)
	}
}

// healthy requires a working service: Err nil and a normal write acknowledged.
func (o *oddServer) healthy(t testing.TB, n int) {
	t.Helper()
	if err := o.svc.Err(); err != nil {
		t.Fatalf("service stopped: %v", err)
	}
	// A write that does not accumulate (the fuzzer calls this after every input).
	rec := o.send("CreateTags", url.Values{"ResourceId.1": {o.ids["VpcId"]}, "Tag.1.Key": {"health"}, "Tag.1.Value": {fmt.Sprint(n)}})
	if rec.Code != http.StatusOK {
		t.Fatalf("a normal write after the odd inputs: %d %.300s", rec.Code, rec.Body)
	}
}

// shorten shortens a request's parameters for a failure message.
func shorten(v url.Values) string {
	var b strings.Builder
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range v {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "%.40q=%.40q ", k, v.Get(k))
	}
	return b.String()
}

// oddValues are the values the generator draws from: odd ones and a few plausible ones (so
// that a request gets far enough for the odd parameter to matter).
var oddValues = []string{
	strings.Repeat("x", 40000),
	strings.Repeat("é", 300),
	strings.Repeat("a", 65), strings.Repeat("a", 129), strings.Repeat("a", 256), strings.Repeat("a", 257),
	"k\x00b", "k\x01b", "\x1b[31mred", "a\r\nb", "\u202eevil", "k\ufffeb", "\xff\xfe", "\xc3", "🚀",
	"99999999999999999999", "-1", "-9223372036854775808", "9223372036854775807", "4294967296", "65536", "1e308", "NaN", "0x10", "",
	"10.0.0.0/16", "10.0.1.0/24", "0.0.0.0/0", "::/0", "10.0.1.77", "tcp", "-1", "true", "IPv4", "allow", "ingress",
	"../../../../etc/passwd", "/etc/cron.d/x", "arn:aws:s3:::bucket/" + strings.Repeat("p/", 600),
	"arn:aws:logs:us-east-1:000000000000:log-group:" + strings.Repeat("g", 600), "arn:aws:iam::000000000000:role/" + strings.Repeat("r", 3000),
	"${version} ${srcaddr}" + strings.Repeat(" ${dstaddr}", 2000),
}

var (
	oddIndices = []string{"1", "1", "1", "2", "100000", "99999999999999999999"}
	oddInts    = []string{"0", "1", "-1", "5", "65535", "65536", "4294967296", "9223372036854775807", "-9223372036854775808", "99999999999999999999", "NaN"}
	oddBools   = []string{"true", "false", "yes", ""}
)

// base is a request of the action with every parameter for which the test network has a
// valid value set to it, so that the odd values get past the not-found checks.
func (o *oddServer) base(action string) url.Values {
	v := url.Values{}
	for _, p := range o.params[action] {
		if id, ok := o.ids[strings.ReplaceAll(p.pattern, ".N", ".1")]; ok {
			v.Set(strings.ReplaceAll(p.pattern, ".N", ".1"), id)
		}
		if p.pattern == "TagSpecification.N.ResourceType" { // so that odd tags are read
			v.Set("TagSpecification.1.ResourceType", tagResourceTypes[action])
		}
	}
	return v
}

// tagResourceTypes is the TagSpecification resource type of each creating action.
var tagResourceTypes = map[string]string{
	"CreateVpc": "vpc", "CreateSubnet": "subnet", "CreateSecurityGroup": "security-group", "CreateNetworkInterface": "network-interface",
	"RunInstances": "instance", "CreateFlowLogs": "vpc-flow-log", "CreateNetworkAcl": "network-acl", "CreateManagedPrefixList": "prefix-list",
	"CreateNetworkInsightsPath": "network-insights-path", "StartNetworkInsightsAnalysis": "network-insights-analysis",
	"CreateRouteTable": "route-table", "CreateInternetGateway": "internet-gateway", "CreateEgressOnlyInternetGateway": "egress-only-internet-gateway",
	"CreateKeyPair": "key-pair", "ImportKeyPair": "key-pair", "AuthorizeSecurityGroupIngress": "security-group-rule", "AuthorizeSecurityGroupEgress": "security-group-rule",
	"AllocateAddress": "elastic-ip", "CreateNatGateway": "natgateway",
	"CreateLaunchTemplate": "launch-template",
}

// oddRequest draws one request of the action: its base, less some of it, and one to four of
// the action's parameters set to odd values, at odd list indices.
func (o *oddServer) oddRequest(r *rand.Rand, action string) url.Values {
	v := o.base(action)
	for k := range v {
		if r.IntN(5) == 0 {
			delete(v, k)
		}
	}
	ps := o.params[action]
	if len(ps) == 0 {
		return v
	}
	for n := 1 + r.IntN(4); n > 0; n-- {
		p := ps[r.IntN(len(ps))]
		name := p.pattern
		for strings.Contains(name, ".N") {
			name = strings.Replace(name, ".N", "."+oddIndices[r.IntN(len(oddIndices))], 1)
		}
		switch p.kind {
		case "Int":
			v.Set(name, oddInts[r.IntN(len(oddInts))])
		case "Bool":
			v.Set(name, oddBools[r.IntN(len(oddBools))])
		default:
			v.Set(name, oddValues[r.IntN(len(oddValues))])
		}
	}
	return v
}

// TestOddInputs drives odd values through every action (a fixed seed: the same requests every
// run), then requires the service healthy.
func TestOddInputs(t *testing.T) {
	o := newOddServer(t)
	r := rand.New(rand.NewPCG(10, 2026))
	rounds := 12
	if testing.Short() {
		rounds = 3
	}
	for i := 0; i < rounds; i++ {
		for _, action := range o.routes {
			o.check(t, action, o.oddRequest(r, action))
		}
	}
	// The finding itself, for every action that takes a ClientToken.
	tokens := 0
	for _, action := range o.routes {
		if !slices.ContainsFunc(o.params[action], func(p modelParam) bool { return p.pattern == "ClientToken" }) {
			continue
		}
		v := o.base(action)
		v.Set("ClientToken", strings.Repeat("x", 40000))
		o.check(t, action, v)
		tokens++
	}
	if tokens < 6 {
		t.Errorf("only %d actions take a ClientToken", tokens)
	}
	o.healthy(t, 0)
}

// FuzzOddInputs lets the fuzzer choose the action, one parameter's name and its value, on top
// of the valid IDs.
func FuzzOddInputs(f *testing.F) {
	f.Add(uint16(0), "ClientToken", strings.Repeat("x", 40000))
	f.Add(uint16(1), "TagSpecification.1.Tag.1.Key", "k\x00b")
	f.Add(uint16(2), "Description", "\xff\xfe")
	f.Add(uint16(3), "Entry.99999999999999999999.Cidr", "10.0.0.0/8")
	o := newOddServer(f)
	n := 0
	f.Fuzz(func(t *testing.T, action uint16, name, value string) {
		a := o.routes[int(action)%len(o.routes)]
		v := o.base(a)
		v.Set(name, value)
		o.check(t, a, v)
		n++
		o.healthy(t, n)
	})
}
