package trail

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestScanResponseMatchesDecoder: on random documents — the fronts' plain XML and everything
// around it: prologs, attributes, entities and character references, self-closing elements,
// redacted and typed elements, and damaged documents — the scanner either gives up or builds
// exactly the tree encoding/xml builds, and it does not give up on plain documents.
func TestScanResponseMatchesDecoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"item", "member", "groupId", "return", "fromPort", "toPort", "ipPermissions", "groupSet", "tagSet",
		"secretAccessKey", "keyMaterial", "CreateUserResult", "ResponseMetadata", "RequestId", "isEgress", "Foo.Bar", "a_b-c", "requestId"}
	texts := []string{"web", "22", "true", "false", "-1", "3.5", " ", "\n  ", "a b", "é", "&amp;", "&lt;x&gt;", "&quot;&apos;",
		"&#65;", "&#x41;", "&#x1F600;", "2024-08-01T11:45:21Z", ">"}
	odd := []string{"&#0;", "&bogus;", "&#X41;", "]]>", "\xff", "\x01", "\r\n", "<!-- c -->", "<![CDATA[x]]>", "&#xD800;", "&", "<a:b>x</a:b>"}
	var gen func(b *strings.Builder, depth int, plain bool)
	gen = func(b *strings.Builder, depth int, plain bool) {
		for range rng.IntN(4) {
			name := names[rng.IntN(len(names))]
			switch {
			case rng.IntN(6) == 0:
				fmt.Fprintf(b, "<%s/>", name)
				continue
			case rng.IntN(8) == 0:
				fmt.Fprintf(b, "<%s x=\"1\" y='a/b'>", name)
			default:
				fmt.Fprintf(b, "<%s>", name)
			}
			if depth < 4 && rng.IntN(2) == 0 {
				gen(b, depth+1, plain)
			} else {
				b.WriteString(texts[rng.IntN(len(texts))])
				if !plain && rng.IntN(5) == 0 {
					b.WriteString(odd[rng.IntN(len(odd))])
				}
			}
			fmt.Fprintf(b, "</%s>", name)
			if rng.IntN(3) == 0 {
				b.WriteString("\n  ")
			}
		}
	}
	fast := 0
	const n = 20000
	for i := range n {
		plain := i%2 == 0
		var b strings.Builder
		switch rng.IntN(4) {
		case 0:
			b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		case 1:
			if !plain {
				b.WriteString([]string{`<?xml version="1.0" encoding="ISO-8859-1"?>`, `<?xml version="1.1"?>`}[rng.IntN(2)])
			}
		}
		root := []string{"AuthorizeSecurityGroupIngressResponse", "CreateUserResponse", "DescribeSecurityGroupsResponse"}[rng.IntN(3)]
		fmt.Fprintf(&b, `<%s xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`, root)
		gen(&b, 0, plain)
		fmt.Fprintf(&b, "</%s>", root)
		doc := b.String()
		if !plain && rng.IntN(3) == 0 { // damaged: cut short, or an end tag renamed
			if rng.IntN(2) == 0 {
				doc = doc[:rng.IntN(len(doc))]
			} else {
				doc = strings.Replace(doc, "</", "</x", 1)
			}
		}
		got, err := scanResponse([]byte(doc))
		if err != nil {
			if plain {
				t.Errorf("the scanner gave up on a plain document:\n%s", doc)
			}
			continue
		}
		fast++
		want, werr := decodeResponse([]byte(doc))
		if werr != nil {
			t.Errorf("the scanner read a document encoding/xml refuses (%v):\n%q", werr, doc)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("trees differ for\n%q\nscanner  %#v\ndecoder  %#v", doc, got, want)
		}
	}
	t.Logf("the scanner read %d of %d documents", fast, n)
	if fast < n/2 {
		t.Errorf("the scanner read %d of %d documents, want at least the plain half", fast, n)
	}
}

// BenchmarkResponseElements is parsing a change's reply back into responseElements, as every
// write's record does.
func BenchmarkResponseElements(b *testing.B) {
	body := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<AuthorizeSecurityGroupIngressResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
    <return>true</return>
    <securityGroupRuleSet>
        <item>
            <groupOwnerId>123456789012</groupOwnerId>
            <groupId>sg-0123456789abcdef0</groupId>
            <securityGroupRuleId>sgr-0123456789abcdef0</securityGroupRuleId>
            <isEgress>false</isEgress>
            <ipProtocol>tcp</ipProtocol>
            <fromPort>22</fromPort>
            <toPort>22</toPort>
            <cidrIpv4>10.0.0.0/8</cidrIpv4>
        </item>
    </securityGroupRuleSet>
</AuthorizeSecurityGroupIngressResponse>`)
	for _, c := range []struct {
		name string
		f    func([]byte) (any, error)
	}{{"scanner", scanResponse}, {"encoding-xml", decodeResponse}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.f(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
