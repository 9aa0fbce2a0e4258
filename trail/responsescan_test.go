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
	g := newDocGen(rand.New(rand.NewPCG(1, 2)), nil)
	fast := 0
	const n = 20000
	for i := range n {
		plain := i%2 == 0
		doc := g.doc(plain)
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

// docGen makes random response documents: the fronts' plain XML (plain) or everything around
// it: other prologs, attributes, odd text, comments, CDATA, damaged documents.
type docGen struct {
	rng               *rand.Rand
	names, texts, odd []string
	// lists adds lists of item, Item or member children (none mixed) to the documents.
	lists bool
}

// newDocGen is a generator with the scanner test's element names and texts, and more.
func newDocGen(rng *rand.Rand, more []string, moreTexts ...string) *docGen {
	return &docGen{rng: rng,
		names: append([]string{"item", "member", "groupId", "return", "fromPort", "toPort", "ipPermissions", "groupSet", "tagSet",
			"secretAccessKey", "keyMaterial", "CreateUserResult", "ResponseMetadata", "RequestId", "isEgress", "Foo.Bar", "a_b-c", "requestId"}, more...),
		texts: append([]string{"web", "22", "true", "false", "-1", "3.5", " ", "\n  ", "a b", "é", "&amp;", "&lt;x&gt;", "&quot;&apos;",
			"&#65;", "&#x41;", "&#x1F600;", "2024-08-01T11:45:21Z", ">"}, moreTexts...),
		odd: []string{"&#0;", "&bogus;", "&#X41;", "]]>", "\xff", "\x01", "\r\n", "<!-- c -->", "<![CDATA[x]]>", "&#xD800;", "&", "<a:b>x</a:b>"},
	}
}

func (g *docGen) elements(b *strings.Builder, depth int, plain bool) {
	rng := g.rng
	for range rng.IntN(4) {
		if g.lists && depth < 4 && rng.IntN(5) == 0 {
			g.list(b, depth, plain)
			continue
		}
		name := g.names[rng.IntN(len(g.names))]
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
			g.elements(b, depth+1, plain)
		} else {
			b.WriteString(g.texts[rng.IntN(len(g.texts))])
			if !plain && rng.IntN(5) == 0 {
				b.WriteString(g.odd[rng.IntN(len(g.odd))])
			}
		}
		fmt.Fprintf(b, "</%s>", name)
		if rng.IntN(3) == 0 {
			b.WriteString("\n  ")
		}
	}
}

// list writes a *Set element of one to three item, Item or member children.
func (g *docGen) list(b *strings.Builder, depth int, plain bool) {
	rng := g.rng
	name := g.names[rng.IntN(len(g.names))] + "Set"
	elem := []string{"item", "Item", "member"}[rng.IntN(3)]
	fmt.Fprintf(b, "<%s>", name)
	for range 1 + rng.IntN(3) {
		fmt.Fprintf(b, "<%s>", elem)
		if rng.IntN(3) > 0 {
			g.elements(b, depth+2, plain)
		} else {
			b.WriteString(g.texts[rng.IntN(len(g.texts))])
		}
		fmt.Fprintf(b, "</%s>\n", elem)
	}
	fmt.Fprintf(b, "</%s>", name)
}

func (g *docGen) doc(plain bool) string {
	rng := g.rng
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
	g.elements(&b, 0, plain)
	fmt.Fprintf(&b, "</%s>", root)
	doc := b.String()
	if !plain && rng.IntN(3) == 0 { // damaged: cut short, or an end tag renamed
		if rng.IntN(2) == 0 {
			doc = doc[:rng.IntN(len(doc))]
		} else {
			doc = strings.Replace(doc, "</", "</x", 1)
		}
	}
	return doc
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
	// The fast path to the JSON, resources included, into a reused buffer as a record
	// builder's would be.
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		out := make([]byte, 0, 1024)
		var found []Resource
		add := func(r Resource) { found = append(found, r) }
		for b.Loop() {
			var ok bool
			found = found[:0]
			if out, ok = ec2ResponseJSON(out[:0], body, "AuthorizeSecurityGroupIngress", add); !ok {
				b.Fatal("the fast path gave up")
			}
		}
	})
}
