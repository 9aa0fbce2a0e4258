package objstore

import (
	"io/fs"
	"slices"
	"strings"

	"github.com/stockade/stockade/model"
)

// ListQuery is ListObjectsV2's selection. After is exclusive: the larger of StartAfter and
// the key a continuation token names.
type ListQuery struct {
	Prefix, Delimiter, After string
	MaxKeys                  int // 0 lists nothing but says whether there is something
}

// ListResult is one page: Objects and CommonPrefixes in key order, together at most MaxKeys;
// Next is the last key or prefix returned when Truncated, the resume point of the next page.
type ListResult struct {
	Objects        []Object
	CommonPrefixes []string
	Truncated      bool
	Next           string
}

// List lists account's bucket as ListObjectsV2 does: keys in UTF-8 binary order, those sharing
// a prefix up to the first Delimiter after Prefix rolled up into one common prefix that counts
// once towards MaxKeys.
func (s *Store) List(account, bucketName string, q ListQuery) (ListResult, error) {
	s.mu.Lock()
	b, err := s.lookup(account, bucketName)
	s.mu.Unlock()
	if err != nil {
		return ListResult{}, err
	}
	ents, err := fs.ReadDir(b.root.FS(), ".")
	if err != nil {
		return ListResult{}, model.Internal(err)
	}
	keys := make([]string, 0, len(ents))
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if k, ok := DecodeKey(e.Name()); ok && strings.HasPrefix(k, q.Prefix) && k > q.After {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var res ListResult
	n := 0
	for i := 0; i < len(keys); i++ {
		k := keys[i]
		if n == q.MaxKeys {
			res.Truncated = true
			break
		}
		if q.Delimiter != "" {
			if j := strings.Index(k[len(q.Prefix):], q.Delimiter); j >= 0 {
				cp := k[:len(q.Prefix)+j+len(q.Delimiter)]
				if cp <= q.After { // the page before ended inside this prefix
					continue
				}
				res.CommonPrefixes = append(res.CommonPrefixes, cp)
				res.Next = cp
				n++
				for i+1 < len(keys) && strings.HasPrefix(keys[i+1], cp) {
					i++
				}
				continue
			}
		}
		f, err := b.root.Open(EncodeKey(k))
		if err != nil {
			continue // deleted while listing
		}
		obj, err := b.stat(k, f)
		f.Close()
		if err != nil {
			return ListResult{}, err
		}
		res.Objects = append(res.Objects, obj)
		res.Next = k
		n++
	}
	if !res.Truncated {
		res.Next = ""
	}
	return res, nil
}
