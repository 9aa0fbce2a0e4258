package trail

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// treeResponseJSON is the oracle of ec2ResponseJSON: addResponse's tree path for an EC2 call
// of action — responseElements, wrapped for wrappedShapes, marshalCapped — and the resources
// lookupResources finds in it.
func treeResponseJSON(body []byte, action string) (string, []Resource, error) {
	resp, err := responseElements(body)
	if err != nil {
		return "", nil, err
	}
	if _, wrapped := wrappedShapes[action]; wrapped {
		resp = object{{action + "Response", resp}}
	}
	var found []Resource
	resourcesIn(EC2, resp, func(r Resource) { found = append(found, r) })
	return string(marshalCapped(resp)), lookupResources(nil, found), nil
}

// fastResponseJSON runs ec2ResponseJSON after a prefix that must stay, and gives its JSON and
// the resources it found, de-duplicated as the caller does.
func fastResponseJSON(t *testing.T, body []byte, action string) (string, []Resource, bool) {
	t.Helper()
	const prefix = `{"prefix":`
	var found []Resource
	out, ok := ec2ResponseJSON([]byte(prefix), body, action, func(r Resource) {
		if r.ResourceName == "" {
			t.Errorf("found a resource without a name: %+v", r)
		}
		found = append(found, r)
	})
	if !strings.HasPrefix(string(out), prefix) {
		t.Fatalf("dst's content was not kept: %q", out)
	}
	if !ok {
		if len(out) != len(prefix) || found != nil {
			t.Errorf("gave up but wrote %q and found %v", out[len(prefix):], found)
		}
		return "", nil, false
	}
	return string(out[len(prefix):]), lookupResources(found), true
}

// checkResponseJSON fails t unless the fast path gives up on body or agrees with the tree
// path; it reports whether the fast path converted it.
func checkResponseJSON(t *testing.T, body []byte, action string) bool {
	t.Helper()
	got, gotRes, ok := fastResponseJSON(t, body, action)
	want, wantRes, err := treeResponseJSON(body, action)
	if !ok {
		return false
	}
	if err != nil {
		t.Errorf("the fast path converted a reply the tree path refuses (%v):\n%q", err, body)
		return true
	}
	if got != want {
		t.Errorf("%s: JSON differs for\n%q\nfast %s\ntree %s", action, body, got, want)
	}
	if diff := cmp.Diff(wantRes, gotRes); diff != "" {
		t.Errorf("%s: resources differ for\n%q\n(-tree +fast):\n%s", action, body, diff)
	}
	return true
}

// TestEC2ResponseJSONMatchesTree: on random documents the fast path gives up or gives exactly
// the tree path's JSON and resources. The scanner test's documents (odd names, damaged
// documents, references, redacted and root-level IAM elements) check that it gives up when it
// should; documents in the EC2 front's shape (lists of one kind, typed and resource leaves)
// check that it does not give up on them.
func TestEC2ResponseJSONMatchesTree(t *testing.T) {
	actions := []string{"AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules", "CreateSecurityGroup"}
	rng := rand.New(rand.NewPCG(3, 4))
	wild := newDocGen(rng, []string{"vpcId", "securityGroupRuleId", "Item", "Return", "_isEgress", "maxEntries", "GroupId",
		"descriptionSet", "xResult", "responseMetadata", "Member"}, "007", "1e5", "1.", "sg-1", "&#x85;", "&#xD;", "\u2028", "")
	wild.lists = true
	ec2 := newDocGen(rng, nil, "sg-1", "sgr-2", "vpc-3", "007", "\u2028", "&#x85;")
	ec2.names = []string{"groupId", "securityGroupRuleId", "vpcId", "return", "fromPort", "toPort", "isEgress", "_isEgress",
		"ipPermissions", "groupSet", "description", "keyMaterial", "GroupName", "maxEntries", "Return"}
	ec2.lists = true
	for _, c := range []struct {
		name  string
		g     *docGen
		floor float64 // of the plain documents the fast path must convert
	}{{"scanner's documents", wild, 0}, {"EC2's shape", ec2, 0.9}} {
		t.Run(c.name, func(t *testing.T) {
			const n = 20000
			converted, plain, others := 0, 0, 0
			for i := range n {
				isPlain := i%2 == 0
				doc := c.g.doc(isPlain)
				ok := checkResponseJSON(t, []byte(doc), actions[rng.IntN(len(actions))])
				switch {
				case isPlain:
					plain++
					if ok {
						converted++
					}
				case ok:
					others++
				}
			}
			t.Logf("converted %d of %d plain documents, %d of the others", converted, plain, others)
			if float64(converted) < c.floor*float64(plain) {
				t.Errorf("converted %d of %d plain documents, want at least %.0f%%", converted, plain, 100*c.floor)
			}
		})
	}
}

// TestEC2ResponseJSONRealReplies: the replies Stockade's EC2 front writes convert on the fast
// path, equal to the tree path's. The writes' replies are as the front writes them
// (writeResponse: compact, a prolog and a newline); the golden replies of ec2api's tests,
// indented, stand for the rest.
func TestEC2ResponseJSONRealReplies(t *testing.T) {
	const head = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	reply := func(action, body string) string {
		return head + "<" + action + `Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">` +
			"<requestId>7f2c8c1e-5b4a-4a43-9d52-0c5e8e1f2a3b</requestId>" + body + "</" + action + "Response>"
	}
	rule := `<securityGroupRuleId>sgr-00000000000000002</securityGroupRuleId><groupId>sg-00000000000000001</groupId>` +
		`<groupOwnerId>111122223333</groupOwnerId><isEgress>false</isEgress><ipProtocol>tcp</ipProtocol>` +
		`<fromPort>22</fromPort><toPort>22</toPort><cidrIpv4>10.0.0.0/8</cidrIpv4><description>ssh &amp; admin &lt;ops&gt;</description>` +
		`<securityGroupRuleArn>arn:aws:ec2:us-east-1:111122223333:security-group-rule/sgr-00000000000000002</securityGroupRuleArn>`
	cases := []struct{ action, body string }{
		{"CreateSecurityGroup", reply("CreateSecurityGroup", `<return>true</return><groupId>sg-00000000000000001</groupId>`+
			`<tagSet><item><key>env</key><value>dev</value></item></tagSet>`+
			`<securityGroupArn>arn:aws:ec2:us-east-1:111122223333:security-group/sg-00000000000000001</securityGroupArn>`)},
		{"AuthorizeSecurityGroupIngress", reply("AuthorizeSecurityGroupIngress",
			`<return>true</return><securityGroupRuleSet><item>`+rule+`</item><item>`+rule+`</item></securityGroupRuleSet>`)},
		{"AuthorizeSecurityGroupEgress", reply("AuthorizeSecurityGroupEgress", `<return>true</return><securityGroupRuleSet><item>`+
			strings.Replace(rule, "<cidrIpv4>10.0.0.0/8</cidrIpv4>", "<referencedGroupInfo><groupId>sg-00000000000000003</groupId>"+
				"<userId>111122223333</userId><vpcId>vpc-00000000000000001</vpcId></referencedGroupInfo>", 1)+`</item></securityGroupRuleSet>`)},
		{"RevokeSecurityGroupIngress", reply("RevokeSecurityGroupIngress", `<return>true</return>`+
			`<unknownIpPermissionSet><item><ipProtocol>udp</ipProtocol><fromPort>53</fromPort><toPort>53</toPort><groups/>`+
			`<ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges><ipv6Ranges/><prefixListIds/></item></unknownIpPermissionSet>`+
			`<revokedSecurityGroupRuleSet><item><securityGroupRuleId>sgr-00000000000000002</securityGroupRuleId>`+
			`<groupId>sg-00000000000000001</groupId><isEgress>false</isEgress><ipProtocol>-1</ipProtocol><fromPort>-1</fromPort>`+
			`<toPort>-1</toPort><referencedGroupId>sg-00000000000000001</referencedGroupId></item></revokedSecurityGroupRuleSet>`)},
		{"RevokeSecurityGroupEgress", reply("RevokeSecurityGroupEgress", `<return>true</return><revokedSecurityGroupRuleSet/>`)},
		{"DeleteSecurityGroup", reply("DeleteSecurityGroup", `<return>true</return><groupId>sg-00000000000000001</groupId>`)},
		{"ModifySecurityGroupRules", reply("ModifySecurityGroupRules", `<return>true</return>`)},
		{"CreateKeyPair", reply("CreateKeyPair", `<keyName>deploy</keyName><keyFingerprint>1f:51:ae:28</keyFingerprint>`+
			`<keyMaterial>-----BEGIN RSA PRIVATE KEY-----
MIIEoQIBAAKCAQBuLFg5ujHrtm1jnutSuoO8Xe56LlT+HM8v/xkaa39EstM3/aFxTHgElQiJLChp
-----END RSA PRIVATE KEY-----</keyMaterial><keyPairId>key-00000000000000001</keyPairId>`)},
	}
	// RunInstances answers the reservation writeReservation writes, which DescribeInstances
	// nests in reservationSet.
	if d, err := os.ReadFile(filepath.Join("..", "ec2api", "testdata", "DescribeInstances.xml")); err == nil {
		s := string(d)
		from, to := strings.Index(s, "<reservationId>"), strings.LastIndex(s, "</instancesSet>")
		if from < 0 || to < 0 {
			t.Fatal("DescribeInstances.xml has no reservation")
		}
		cases = append(cases, struct{ action, body string }{"RunInstances", reply("RunInstances", s[from:to+len("</instancesSet>")])})
	}
	golden, err := filepath.Glob(filepath.Join("..", "ec2api", "testdata", "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	cli, _ := filepath.Glob(filepath.Join("..", "ec2api", "testdata", "awscli", "*.xml"))
	if len(golden) == 0 {
		t.Fatal("no golden replies in ec2api/testdata")
	}
	for _, f := range append(golden, cli...) {
		d, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, struct{ action, body string }{filepath.Base(f), string(d)})
	}
	for _, c := range cases {
		t.Run(c.action, func(t *testing.T) {
			if !checkResponseJSON(t, []byte(c.body), c.action) {
				t.Errorf("the fast path gave up on\n%s", c.body)
			}
		})
	}
}

// TestEC2ResponseJSONResources: the resources found, in document order, repeats included
// (the caller de-duplicates), none from a redacted element or an empty one.
func TestEC2ResponseJSONResources(t *testing.T) {
	body := `<R><groupId>sg-1</groupId><x><item><vpcId>vpc-2</vpcId><securityGroupRuleId>sgr-3</securityGroupRuleId></item>` +
		`<item><vpcId>vpc-2</vpcId><groupId/><groupId>sg-&#x34;</groupId></item></x>` +
		`<keyMaterial><groupId>sg-9</groupId></keyMaterial><groupId><groupId>sg-5</groupId></groupId><groupIdSet> </groupIdSet>` +
		`<vpcId>vpc-&lt;&quot;é&quot;&gt;</vpcId></R>`
	var found []Resource
	out, ok := ec2ResponseJSON(nil, []byte(body), "CreateSecurityGroup", func(r Resource) { found = append(found, r) })
	if !ok {
		t.Fatal("the fast path gave up")
	}
	sg, vpc, sgr := "AWS::EC2::SecurityGroup", "AWS::EC2::VPC", "AWS::EC2::SecurityGroupRule"
	want := []Resource{{sg, "sg-1"}, {vpc, "vpc-2"}, {sgr, "sgr-3"}, {vpc, "vpc-2"}, {sg, "sg-4"}, {sg, "sg-5"}, {vpc, `vpc-<"é">`}}
	if diff := cmp.Diff(want, found); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	const wantJSON = `{"groupId":"sg-1","x":{"items":[{"vpcId":"vpc-2","securityGroupRuleId":"sgr-3"},` +
		`{"vpcId":"vpc-2","groupId":"","groupId":"sg-4"}]},"keyMaterial":"\u003csensitiveDataRemoved\u003e",` +
		`"groupId":{"groupId":"sg-5"},"groupIdSet":{},"vpcId":"vpc-\u003c\"é\"\u003e"}`
	if string(out) != wantJSON {
		t.Errorf("JSON\n got %s\nwant %s", out, wantJSON)
	}
	checkResponseJSON(t, []byte(body), "CreateSecurityGroup")
}

// TestEC2ResponseJSONGivesUp: documents the fast path must leave to the tree path, because it
// cannot be sure to convert them identically (or they are not XML it reads).
func TestEC2ResponseJSONGivesUp(t *testing.T) {
	const ns = ` xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"`
	for _, c := range []struct{ name, body string }{
		{"CR", "<R>\r\n<a>x</a></R>"},
		{"other prolog", `<?xml version="1.0" encoding="ISO-8859-1"?><R><a>x</a></R>`},
		{"prolog without encoding", `<?xml version="1.0"?><R><a>x</a></R>`},
		{"comment", `<R` + ns + `><!-- c --><a>x</a></R>`},
		{"CDATA", `<R><a><![CDATA[x]]></a></R>`},
		{"namespace prefix", `<R><a:b>x</a:b></R>`},
		{"unknown entity", `<R><a>&nbsp;</a></R>`},
		{"list then another child", `<R><s><item>1</item><other>2</other></s></R>`},
		{"member list then another child", `<R><s><member>1</member><other>2</other></s></R>`},
		{"item at the root", `<R><item>1</item></R>`},
		{"member at the root", `<R><member>1</member></R>`},
		{"Result at the root", `<R><CreateUserResult><userName>a</userName></CreateUserResult></R>`},
		{"ResponseMetadata at the root", `<R><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></R>`},
		{"secretAccessKey", `<R><a><secretAccessKey>s</secretAccessKey></a></R>`},
		{"number JSON refuses", `<R><fromPort>007</fromPort></R>`},
		{"number JSON refuses 2", `<R><toPort>1.</toPort></R>`},
		{"too deep", "<R>" + strings.Repeat("<a>", maxScanDepth+1) + "x" + strings.Repeat("</a>", maxScanDepth+1) + "</R>"},
		{"end tag mismatch", `<R><a>x</b></R>`},
		{"cut short", `<R><a>x</a>`},
		{"trailing content", `<R><a>x</a></R><S/>`},
		{"not XML", `{"a":1}`},
		{"empty", ``},
		{"control character", "<R><a>\x01</a></R>"},
		{"invalid UTF-8", "<R><a>\xff</a></R>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			called := false
			out, ok := ec2ResponseJSON([]byte("keep"), []byte(c.body), "CreateSecurityGroup", func(Resource) { called = true })
			if ok || string(out) != "keep" || called {
				t.Errorf("ok=%v out=%q found called=%v, want a fallback that changes nothing", ok, out, called)
			}
		})
	}
}

// TestEC2ResponseJSONCap: beyond maxElements the field is null, as marshalCapped makes it, and
// its resources are still found.
func TestEC2ResponseJSONCap(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<R><groupId>sg-1</groupId><s>`)
	for b.Len() < 2*maxElements { // the JSON is shorter than the XML
		b.WriteString(`<item><description>0123456789012345678901234567890123456789</description></item>`)
	}
	b.WriteString(`</s></R>`)
	var found []Resource
	out, ok := ec2ResponseJSON(nil, []byte(b.String()), "CreateSecurityGroup", func(r Resource) { found = append(found, r) })
	if !ok || string(out) != "null" || len(found) != 1 {
		t.Errorf("ok=%v out=%.40q found=%v, want null and sg-1", ok, out, found)
	}
	checkResponseJSON(t, []byte(b.String()), "CreateSecurityGroup")
}

// TestEC2ResponseJSONAllocs: the authorize reply costs the output buffer and the names'
// string, nothing per element.
func TestEC2ResponseJSONAllocs(t *testing.T) {
	body := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<AuthorizeSecurityGroupIngressResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId><return>true</return><securityGroupRuleSet><item><securityGroupRuleId>sgr-0123456789abcdef0</securityGroupRuleId><groupId>sg-0123456789abcdef0</groupId><groupOwnerId>123456789012</groupOwnerId><isEgress>false</isEgress><ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort><cidrIpv4>10.0.0.0/8</cidrIpv4><description>a description longer than thirty-two bytes</description></item></securityGroupRuleSet></AuthorizeSecurityGroupIngressResponse>`)
	found := make([]Resource, 0, 4)
	add := func(r Resource) { found = append(found, r) }
	allocs := testing.AllocsPerRun(100, func() {
		found = found[:0]
		if _, ok := ec2ResponseJSON(nil, body, "AuthorizeSecurityGroupIngress", add); !ok {
			t.Fatal("the fast path gave up")
		}
	})
	if allocs > 2 {
		t.Errorf("%v allocations per reply, want at most 2 (the output and the names)", allocs)
	}
}
