package ec2api

import (
	"encoding/base64"
	"strings"

	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/model"
)

// pageLimits are an action's MaxResults bounds (spec §8.5).
type pageLimits struct{ min, max int64 }

var (
	describeLimits = pageLimits{5, 1000}
	staleLimits    = pageLimits{5, 255}
)

// paginate returns the page of items (sorted by key) after NextToken, and the token for the
// next page ("" on the last one). Tokens carry the last key returned, so they stay valid while
// items come and go. Without MaxResults everything is returned.
func paginate[T any](r *query.Request, items []T, key func(T) string, lim pageLimits) ([]T, string, error) {
	max, hasMax, err := optInt(r, "MaxResults")
	if err != nil {
		return nil, "", err
	}
	token := str(r, "NextToken")
	if hasMax && (max < lim.min || max > lim.max) {
		return nil, "", model.InvalidValue("Value ( %d ) for parameter maxResults is invalid. Expecting a value between %d and %d.", max, lim.min, lim.max)
	}
	start := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || !strings.HasPrefix(string(raw), "v1:") {
			return nil, "", model.InvalidPaginationToken.Errorf("Invalid pagination token: %s", token)
		}
		after := string(raw[3:])
		for start < len(items) && key(items[start]) <= after {
			start++
		}
	}
	if !hasMax {
		return items[start:], "", nil
	}
	end := start + int(max)
	if end >= len(items) {
		return items[start:], "", nil
	}
	return items[start:end], base64.RawURLEncoding.EncodeToString([]byte("v1:" + key(items[end-1]))), nil
}

// noMaxWithIDs enforces that MaxResults cannot be combined with explicit IDs (DescribeInstances,
// DescribeNetworkInterfaces, spec §8.5).
func noMaxWithIDs(r *query.Request, idKey string) error {
	if _, has, _ := r.Int("MaxResults"); has && len(r.Strings(idKey)) > 0 {
		return model.InvalidParameterCombination.Errorf("The parameter %ss cannot be used with the parameter maxResults", idKey)
	}
	return nil
}
