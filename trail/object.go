package trail

import (
	"bytes"
	"encoding/json"
)

// object is a JSON object that keeps its members in the order they were added, so that
// records read like AWS's and golden files stay stable. Values are string, bool,
// json.Number, object or []any.
type object []member

type member struct {
	key string
	val any
}

func (o *object) set(key string, val any) { *o = append(*o, member{key, val}) }

// MarshalJSON writes the members in order; an empty object is {}, never null.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.val)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// items is EC2's list encoding (§1.3 rule 2): {"items": […]}, and {} for an empty list.
func items(list []any) object {
	if len(list) == 0 {
		return object{}
	}
	return object{{"items", list}}
}
