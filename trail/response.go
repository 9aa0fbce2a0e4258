package trail

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// numberElements and boolElements type the response's leaves (§1.3 rule 3). Without a type an
// element stays a string: a description "22" must not turn into a number.
var numberElements = map[string]bool{"fromPort": true, "toPort": true, "maxEntries": true,
	"ruleNumber": true, "deviceIndex": true, "amiLaunchIndex": true,
	// IAM and STS
	"maxSessionDuration": true, "packedPolicySize": true, "attachmentCount": true,
	"permissionsBoundaryUsageCount": true}

var boolElements = map[string]bool{"return": true, "isEgress": true, "egress": true, "isDefault": true,
	"sourceDestCheck": true, "deleteOnTermination": true, "ebsOptimized": true,
	// IAM
	"isAttachable": true, "isDefaultVersion": true}

// dateElements are the IAM and STS timestamps, which their records write in a Java-style
// local format rather than the wire's ISO 8601 (§1.5 [OBSERVED]: "Aug 1, 2024, 11:45:21 AM";
// records before about 2020 lack the comma after the year).
var dateElements = map[string]bool{"createDate": true, "updateDate": true, "expiration": true,
	"lastUsedDate": true, "uploadDate": true}

// javaDate is dateElements' format, in UTC.
const javaDate = "Jan 2, 2006, 3:04:05 PM"

// memberResponse turns responseElements of an IAM or STS call into the form their records
// have [OBSERVED in AWS's CreateUser and AssumeRole record examples]: no requestId (the
// record's requestID carries it; EC2's XML has it in the body, IAM's in ResponseMetadata),
// timestamps in javaDate form. An action without output (DeleteUser, AttachRolePolicy, …)
// has responseElements null [UNCONFIRMED for every such action].
func memberResponse(o object) object {
	out := object{}
	for _, m := range o {
		if m.key != "requestId" {
			out = append(out, member{m.key, javaDates(m.key, m.val)})
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// javaDates rewrites the dateElements under v.
func javaDates(key string, v any) any {
	switch v := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339, v); err == nil && dateElements[key] {
			return t.UTC().Format(javaDate)
		}
	case object:
		out := make(object, len(v))
		for i, m := range v {
			out[i] = member{m.key, javaDates(m.key, m.val)}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = javaDates("", e)
		}
		return out
	}
	return v
}

// redactedElements never reach a record (§1.5): removed, or replaced by the marker AWS writes.
var redactedElements = map[string]string{"secretAccessKey": "", "keyMaterial": sensitiveDataRemoved}

// responseElements converts a successful Query response body into the record's
// responseElements (§1.3 rules 1–4): the root element's children as keys, lists of <item> or
// <member> as {"items": […]} (EC2) or arrays (IAM/STS), "return" renamed "_return", empty
// *Set elements as {}. IAM and STS responses lose their XxxResult wrapper and
// ResponseMetadata, keeping requestId from it [UNCONFIRMED shapes outside EC2].
func responseElements(body []byte) (object, error) {
	v, err := scanResponse(body)
	if err != nil {
		if v, err = decodeResponse(body); err != nil {
			return nil, err
		}
	}
	o, ok := v.(object)
	if !ok {
		return object{}, nil
	}
	var out object
	for _, m := range o {
		switch {
		case strings.HasSuffix(m.key, "Result"):
			if inner, ok := m.val.(object); ok {
				out = append(out, inner...)
			}
		case m.key == "responseMetadata":
			if inner, ok := m.val.(object); ok {
				for _, r := range inner {
					if r.key == "requestId" {
						out = append(object{r}, out...)
					}
				}
			}
		default:
			out = append(out, m)
		}
	}
	if out == nil {
		out = object{}
	}
	return out, nil
}

// decodeResponse is the root element's tree with encoding/xml (scanResponse's fallback).
func decodeResponse(body []byte) (any, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	root, err := nextStart(dec)
	if err != nil {
		return nil, fmt.Errorf("response: %w", err)
	}
	v, err := xmlElement(dec, root.Name.Local)
	if err != nil {
		return nil, fmt.Errorf("response %s: %w", root.Name.Local, err)
	}
	return v, nil
}

func nextStart(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se, nil
		}
	}
}

// xmlElement reads the content of the element just opened, named name (its record key).
func xmlElement(dec *xml.Decoder, name string) (any, error) {
	var text strings.Builder
	var kids object
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.StartElement:
			key := recordKey(t.Name.Local)
			v, err := xmlElement(dec, key)
			if err != nil {
				return nil, err
			}
			if repl, ok := redactedElements[key]; ok {
				if repl == "" {
					continue
				}
				v = repl
			}
			kids = append(kids, member{key, v})
		case xml.EndElement:
			return xmlValue(name, text.String(), kids), nil
		}
	}
}

// xmlValue is an element's JSON once its children are read.
func xmlValue(name, text string, kids object) any {
	if kids == nil {
		switch {
		case strings.HasSuffix(name, "Set") && strings.TrimSpace(text) == "":
			return object{}
		case boolElements[strings.TrimPrefix(name, "_")] && (text == "true" || text == "false"):
			return text == "true"
		case numberElements[name] && isNumber(text):
			return json.Number(text)
		}
		return text
	}
	var list []any
	for _, k := range kids {
		if k.key != "item" && k.key != "member" {
			return kids
		}
		list = append(list, k.val)
	}
	if kids[0].key == "member" {
		return list
	}
	return items(list)
}

// recordKey is an XML element's key in the record: lowerCamelCase (IAM and STS elements are
// PascalCase), and "return" as "_return".
func recordKey(local string) string {
	k := lowerFirst(local)
	if k == "return" {
		return "_return"
	}
	return k
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
