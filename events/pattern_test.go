package events

import (
	"errors"
	"testing"
)

// sgEvent is an AuthorizeSecurityGroupIngress as EventBridge delivers it (§3.1), with two
// permissions so that array consistency can be told from crushing.
const sgEvent = `{"version":"0","id":"1","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2",
 "account":"111122223333","time":"2025-03-04T10:15:30Z","region":"eu-west-1","resources":[],
 "detail":{"eventName":"AuthorizeSecurityGroupIngress","readOnly":false,"userIdentity":{"type":"Root"},
  "sourceIPAddress":"10.1.2.3","count":22.0,"tags":["a","b"],"nothing":null,"empty":"",
  "requestParameters":{"groupId":"sg-1","ipPermissions":{"items":[
   {"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"}]}},
   {"ipProtocol":"tcp","fromPort":443,"toPort":443,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}}}`

func TestPatternMatch(t *testing.T) {
	ev, err := DecodeEvent([]byte(sgEvent))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, pattern string
		want          bool
	}{
		{"exact", `{"source":["aws.ec2"]}`, true},
		{"exact miss", `{"source":["aws.iam"]}`, false},
		{"or in array", `{"source":["aws.iam","aws.ec2"]}`, true},
		{"and across fields", `{"source":["aws.ec2"],"region":["us-east-1"]}`, false},
		{"nested", `{"detail":{"eventName":["AuthorizeSecurityGroupIngress"]}}`, true},
		{"typed: string vs bool", `{"detail":{"readOnly":["false"]}}`, false},
		{"typed: bool", `{"detail":{"readOnly":[false]}}`, true},
		{"typed: string vs number", `{"detail":{"requestParameters":{"ipPermissions":{"items":{"fromPort":["22"]}}}}}`, false},
		{"number equal whatever its spelling", `{"detail":{"count":[22]}}`, true},
		{"null literal", `{"detail":{"nothing":[null]}}`, true},
		{"empty string literal", `{"detail":{"empty":[""]}}`, true},
		{"array value: any element", `{"detail":{"tags":["b"]}}`, true},
		{"prefix", `{"detail":{"eventName":[{"prefix":"Authorize"}]}}`, true},
		{"prefix ignore case", `{"detail":{"eventName":[{"prefix":{"equals-ignore-case":"authORIZE"}}]}}`, true},
		{"suffix", `{"detail":{"eventName":[{"suffix":"Ingress"}]}}`, true},
		{"suffix ignore case", `{"detail":{"eventName":[{"suffix":{"equals-ignore-case":"INGRESS"}}]}}`, true},
		{"suffix miss", `{"detail":{"eventName":[{"suffix":"Egress"}]}}`, false},
		{"equals-ignore-case", `{"detail":{"userIdentity":{"type":[{"equals-ignore-case":"root"}]}}}`, true},
		{"wildcard", `{"detail":{"eventName":[{"wildcard":"*SecurityGroup*"}]}}`, true},
		{"wildcard anchored", `{"detail":{"eventName":[{"wildcard":"SecurityGroup*"}]}}`, false},
		{"wildcard middle", `{"detail":{"eventName":[{"wildcard":"Authorize*Ingress"}]}}`, true},
		{"anything-but string", `{"detail":{"userIdentity":{"type":[{"anything-but":"Root"}]}}}`, false},
		{"anything-but list", `{"source":[{"anything-but":["aws.iam","aws.sts"]}]}`, true},
		{"anything-but numbers", `{"detail":{"requestParameters":{"ipPermissions":{"items":{"fromPort":[{"anything-but":[22,443]}]}}}}}`, false},
		{"anything-but prefix", `{"detail":{"eventName":[{"anything-but":{"prefix":"Describe"}}]}}`, true},
		{"anything-but suffix", `{"detail":{"eventName":[{"anything-but":{"suffix":"Ingress"}}]}}`, false},
		{"anything-but ignore case", `{"detail":{"userIdentity":{"type":[{"anything-but":{"equals-ignore-case":["ROOT","iamuser"]}}]}}}`, false},
		{"anything-but wildcard", `{"detail":{"eventName":[{"anything-but":{"wildcard":"Describe*"}}]}}`, true},
		{"anything-but needs the field", `{"detail":{"missing":[{"anything-but":"x"}]}}`, false},
		{"numeric range", `{"detail":{"requestParameters":{"ipPermissions":{"items":{"fromPort":[{"numeric":[">",0,"<=",1024]}]}}}}}`, true},
		{"numeric equal", `{"detail":{"requestParameters":{"ipPermissions":{"items":{"fromPort":[{"numeric":["=",443]}]}}}}}`, true},
		{"numeric miss", `{"detail":{"requestParameters":{"ipPermissions":{"items":{"fromPort":[{"numeric":[">=",1025]}]}}}}}`, false},
		{"numeric only numbers", `{"detail":{"eventName":[{"numeric":[">",0]}]}}`, false},
		{"cidr v4", `{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/8"}]}}`, true},
		{"cidr v4 miss", `{"detail":{"sourceIPAddress":[{"cidr":"192.168.0.0/16"}]}}`, false},
		{"exists true", `{"detail":{"eventName":[{"exists":true}]}}`, true},
		{"exists false on absent", `{"detail":{"errorCode":[{"exists":false}]}}`, true},
		{"exists false on present", `{"detail":{"eventName":[{"exists":false}]}}`, false},
		{"exists false on an object", `{"detail":{"userIdentity":[{"exists":false}]}}`, true},
		{"exists true on an object", `{"detail":{"userIdentity":[{"exists":true}]}}`, false},
		{"array-consistent: same item", `{"detail":{"requestParameters":{"ipPermissions":{"items":{"fromPort":[443],"ipRanges":{"items":{"cidrIp":["0.0.0.0/0"]}}}}}}}`, true},
		{"array-consistent: different items", `{"detail":{"requestParameters":{"ipPermissions":{"items":{"fromPort":[22],"ipRanges":{"items":{"cidrIp":["0.0.0.0/0"]}}}}}}}`, false},
		{"$or one branch", `{"source":["aws.ec2"],"$or":[{"region":["us-east-1"]},{"detail":{"eventName":["AuthorizeSecurityGroupIngress"]}}]}`, true},
		{"$or no branch", `{"$or":[{"region":["us-east-1"]},{"account":["1"]}]}`, false},
		{"$or nested", `{"detail":{"$or":[{"eventName":["X"]},{"userIdentity":{"type":["Root"]}}]}}`, true},
		{"absent field", `{"detail":{"nope":["x"]}}`, false},
		{"object pattern on a string", `{"source":{"x":["y"]}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.pattern)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if got := p.Match(ev); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWorldOpenPattern is §3.3 item 6 against both spellings of a world-open ingress, and a
// failed one (§8.3).
func TestWorldOpenPattern(t *testing.T) {
	p, err := Compile(`{"source": ["aws.ec2"], "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {"eventName": ["AuthorizeSecurityGroupIngress"], "errorCode": [{"exists": false}],
      "$or": [
        {"requestParameters": {"ipPermissions": {"items": {"ipRanges": {"items": {"cidrIp": ["0.0.0.0/0"]}}}}}},
        {"requestParameters": {"ipPermissions": {"items": {"ipv6Ranges": {"items": {"cidrIpv6": ["::/0"]}}}}}},
        {"requestParameters": {"cidrIp": ["0.0.0.0/0"]}}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	env := func(detail string) string {
		return `{"source":"aws.ec2","detail-type":"AWS API Call via CloudTrail","detail":` + detail + `}`
	}
	for _, tc := range []struct {
		name, event string
		want        bool
	}{
		{"permissions", env(sgEventDetail(`{"ipPermissions":{"items":[{"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}`, "")), true},
		{"ipv6", env(sgEventDetail(`{"ipPermissions":{"items":[{"ipv6Ranges":{"items":[{"cidrIpv6":"::/0"}]}}]}}`, "")), true},
		{"legacy scalar", env(sgEventDetail(`{"groupId":"sg-1","cidrIp":"0.0.0.0/0","fromPort":22}`, "")), true},
		{"failed", env(sgEventDetail(`{"cidrIp":"0.0.0.0/0"}`, `"errorCode":"InvalidGroup.NotFound",`)), false},
		{"narrow", env(sgEventDetail(`{"cidrIp":"10.0.0.0/8"}`, "")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.MatchJSON([]byte(tc.event))
			if err != nil || got != tc.want {
				t.Errorf("MatchJSON = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func sgEventDetail(params, extra string) string {
	return `{"eventName":"AuthorizeSecurityGroupIngress",` + extra + `"requestParameters":` + params + `}`
}

func TestPatternCIDRv6AndWildcardEscapes(t *testing.T) {
	for _, tc := range []struct {
		pattern, event string
		want           bool
	}{
		{`{"ip":[{"cidr":"2001:db8::/32"}]}`, `{"ip":"2001:db8::1"}`, true},
		{`{"ip":[{"cidr":"2001:db8::/32"}]}`, `{"ip":"2001:db9::1"}`, false},
		{`{"ip":[{"cidr":"10.0.0.0/8"}]}`, `{"ip":"not an address"}`, false},
		{`{"f":[{"wildcard":"a\\*b"}]}`, `{"f":"a*b"}`, true},
		{`{"f":[{"wildcard":"a\\*b"}]}`, `{"f":"axxb"}`, false},
		{`{"f":[{"wildcard":"a\\\\b*"}]}`, `{"f":"a\\bcd"}`, true},
		{`{"f":[{"wildcard":"*"}]}`, `{"f":""}`, true},
		{`{"f":[{"wildcard":"*.png"}]}`, `{"f":"dir/x.png"}`, true},
		{`{"f":[{"wildcard":"*/lib/*"}]}`, `{"f":"/usr/lib/x"}`, true},
		{`{"n":[{"numeric":[">=",-5e9,"<",0.5]}]}`, `{"n":0.25}`, true},
	} {
		p, err := Compile(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got, err := p.MatchJSON([]byte(tc.event)); err != nil || got != tc.want {
			t.Errorf("%s on %s = %v, %v; want %v", tc.pattern, tc.event, got, err, tc.want)
		}
	}
}

func TestPatternInvalid(t *testing.T) {
	for _, pattern := range []string{
		``, `not json`, `[]`, `"x"`, `{}`, `{"a":"x"}`, `{"a":1}`, `{"a":[]}`, `{"a":{}}`,
		`{"a":[[1]]}`, `{"a":[{"bogus":1}]}`, `{"a":[{"prefix":1}]}`, `{"a":[{"prefix":"x","suffix":"y"}]}`,
		`{"a":[{"wildcard":"a**b"}]}`, `{"a":[{"wildcard":"a\\b"}]}`, `{"a":[{"numeric":[">"]}]}`,
		`{"a":[{"numeric":["<",5,">",1]}]}`, `{"a":[{"numeric":[">",5,"<",1]}]}`, `{"a":[{"numeric":["!=",1]}]}`,
		`{"a":[{"numeric":["=",6e9]}]}`, `{"a":[{"cidr":"10.0.0.0/33"}]}`, `{"a":[{"exists":"yes"}]}`,
		`{"a":[{"anything-but":["x",1]}]}`, `{"a":[{"anything-but":[]}]}`, `{"a":[{"anything-but":{"numeric":[">",1]}}]}`,
		`{"a":[{"anything-but":true}]}`, `{"$or":[{"a":["x"]}]}`, `{"$or":{"a":["x"]}}`, `{"$or":[{"a":["x"]},{}]}`,
		`{"a":[1]} {"b":[2]}`,
	} {
		_, err := Compile(pattern)
		var pe *PatternError
		if !errors.As(err, &pe) {
			t.Errorf("Compile(%q) = %v, want a PatternError", pattern, err)
		}
	}
}

// FuzzPattern: compiling and matching never panic, whatever the pattern and event.
func FuzzPattern(f *testing.F) {
	f.Add(`{"detail":{"requestParameters":{"ipPermissions":{"items":{"fromPort":[{"numeric":[">",0,"<=",1024]}]}}}}}`, sgEvent)
	f.Add(`{"a":[{"wildcard":"*x\\**"}],"$or":[{"b":[{"exists":false}]},{"c":[{"anything-but":{"prefix":"d"}}]}]}`, `{"a":"yx*z","c":[1,{"x":2}]}`)
	f.Add(`{"a":[{"cidr":"::/0"}]}`, `{"a":["::1",["1.2.3.4"]]}`)
	f.Fuzz(func(t *testing.T, pattern, event string) {
		p, err := Compile(pattern)
		if err != nil {
			return
		}
		p.MatchJSON([]byte(event))
	})
}

// TestPatternDocsExamples are the examples of AWS's "Content filtering in Amazon EventBridge
// event patterns" and "Comparison operators" pages, against events shaped like theirs.
func TestPatternDocsExamples(t *testing.T) {
	for _, tc := range []struct {
		pattern, event string
		want           bool
	}{
		{`{"time":[{"prefix":"2017-10-02"}]}`, `{"time":"2017-10-02T18:43:48Z"}`, true},
		{`{"detail":{"service":[{"prefix":{"equals-ignore-case":"EventB"}}]}}`, `{"detail":{"service":"eventbridge"}}`, true},
		{`{"FileName":[{"suffix":".png"}]}`, `{"FileName":"image.png"}`, true},
		{`{"detail":{"FileName":[{"suffix":{"equals-ignore-case":".png"}}]}}`, `{"detail":{"FileName":"IMAGE.PNG"}}`, true},
		{`{"detail":{"state":[{"anything-but":"initializing"}]}}`, `{"detail":{"state":"running"}}`, true},
		{`{"detail":{"state":[{"anything-but":"initializing"}]}}`, `{"detail":{"state":"initializing"}}`, false},
		{`{"detail":{"x-limit":[{"anything-but":123}]}}`, `{"detail":{"x-limit":123}}`, false},
		{`{"detail":{"x-limit":[{"anything-but":123}]}}`, `{"detail":{"x-limit":124}}`, true},
		{`{"detail":{"state":[{"anything-but":["stopped","overloaded"]}]}}`, `{"detail":{"state":"stopped"}}`, false},
		{`{"Region":[{"anything-but":{"prefix":"us-"}}]}`, `{"Region":"eu-west-1"}`, true},
		{`{"Region":[{"anything-but":{"prefix":"us-"}}]}`, `{"Region":"us-east-1"}`, false},
		{`{"state":[{"anything-but":{"equals-ignore-case":"initializing"}}]}`, `{"state":"INITIALIZING"}`, false},
		{`{"FilePath":[{"anything-but":{"wildcard":"*/lib/*"}}]}`, `{"FilePath":"/usr/lib/x"}`, false},
		{`{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}]}}`, `{"detail":{"c-count":5}}`, true},
		{`{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}]}}`, `{"detail":{"c-count":0}}`, false},
		{`{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/24"}]}}`, `{"detail":{"sourceIPAddress":"10.0.0.255"}}`, true},
		{`{"detail":{"c-count":[{"exists":false}]}}`, `{"detail":{"other":1}}`, true},
		{`{"LastName":[""]}`, `{"LastName":""}`, true},
		{`{"Location":["New York"],"Day":["Monday"]}`, `{"Location":"New York","Day":"Tuesday"}`, false},
		{`{"Name":[{"equals-ignore-case":"alice"}]}`, `{"Name":"Alice"}`, true},
		{`{"EventBusArn":[{"wildcard":"arn:aws:events:us-east-1:*:event-bus/*"}]}`, `{"EventBusArn":"arn:aws:events:us-east-1:123456789012:event-bus/default"}`, true},
		{`{"detail":{"$or":[{"c-count":[{"numeric":[">",0,"<=",5]}]},{"d-count":[{"numeric":["<",10]}]},{"x-limit":[{"numeric":["=",301.8]}]}]}}`, `{"detail":{"x-limit":301.8}}`, true},
	} {
		p, err := Compile(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got, err := p.MatchJSON([]byte(tc.event)); err != nil || got != tc.want {
			t.Errorf("%s on %s = %v, %v; want %v", tc.pattern, tc.event, got, err, tc.want)
		}
	}
}
