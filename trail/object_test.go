package trail

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestAppendJSONMatchesEncodingJSON: appendJSON writes, for random objects of every value kind
// (strings with control characters, HTML metacharacters, U+2028, invalid UTF-8; numbers valid
// and not), exactly what json.Marshal writes, and refuses exactly what it refuses.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pieces := []string{"a", "Z", " ", "\"", "\\", "<", ">", "&", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "\u2028", "\u2029", "\xff", "\xe2\x80", "😀", "sg-0123"}
	str := func() string {
		s := ""
		for range rng.IntN(6) {
			s += pieces[rng.IntN(len(pieces))]
		}
		return s
	}
	numbers := []string{"0", "-1", "22", "3.5", "1e9", "-0.25E-3", "01", "+1", "1.", ".5", "Inf", "0x10", "1e", "1e+", "-", ""}
	var value func(depth int) any
	value = func(depth int) any {
		switch k := rng.IntN(6); {
		case k == 0:
			return str()
		case k == 1:
			return rng.IntN(2) == 0
		case k == 2:
			return json.Number(numbers[rng.IntN(len(numbers))])
		case k == 3 && depth < 4:
			var o object
			for range rng.IntN(4) {
				o = append(o, member{str(), value(depth + 1)})
			}
			return o
		case k == 4 && depth < 4:
			if rng.IntN(5) == 0 {
				return []any(nil)
			}
			l := []any{}
			for range rng.IntN(4) {
				l = append(l, value(depth+1))
			}
			return l
		}
		return str()
	}
	for i := range 20000 {
		o := object{{"k", value(0)}, {str(), value(0)}}
		want, werr := reference(o)
		got, ok := appendJSON(nil, o)
		if (werr == nil) != ok || (ok && string(got) != string(want)) {
			t.Fatalf("case %d: appendJSON %q (ok %v), json.Marshal %q (%v)", i, got, ok, want, werr)
		}
	}
}

// reference encodes v with json.Marshal for every leaf and key, joining objects (whose
// member order a map would lose) and lists by hand: the encoding appendJSON must equal.
func reference(v any) ([]byte, error) {
	switch v := v.(type) {
	case object:
		b := []byte{'{'}
		for i, m := range v {
			if i > 0 {
				b = append(b, ',')
			}
			k, _ := json.Marshal(m.key)
			e, err := reference(m.val)
			if err != nil {
				return nil, err
			}
			b = append(append(append(b, k...), ':'), e...)
		}
		return append(b, '}'), nil
	case []any:
		if v == nil {
			return []byte("null"), nil
		}
		b := []byte{'['}
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			e, err := reference(x)
			if err != nil {
				return nil, err
			}
			b = append(b, e...)
		}
		return append(b, ']'), nil
	}
	return json.Marshal(v)
}
