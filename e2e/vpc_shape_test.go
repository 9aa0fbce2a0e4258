package e2e

import (
	"encoding/json"
	"testing"
)

// TestSameShape checks the comparison TestAWSCLIExamplesVPC relies on: a missing key, a
// different value, a different list length fail; IDs, extra keys of ours and an empty
// recorded list against an absent key do not.
func TestSameShape(t *testing.T) {
	want := `{"Vpc":{"VpcId":"vpc-1","State":"pending","Tags":[],"Set":[{"Key":"a"}]}}`
	for _, tt := range []struct {
		got   string
		diffs int
	}{
		{`{"Vpc":{"VpcId":"vpc-2","State":"pending","Set":[{"Key":"a"}],"Extra":1}}`, 0},
		{`{"Vpc":{"VpcId":"vpc-2","State":"available","Set":[{"Key":"a"}]}}`, 1},
		{`{"Vpc":{"VpcId":"vpc-2","Set":[{"Key":"a"}]}}`, 1},
		{`{"Vpc":{"VpcId":"vpc-2","State":"pending","Set":[{"Key":"a"},{"Key":"b"}]}}`, 1},
		{`{"Vpc":{"VpcId":"vpc-2","State":"pending","Tags":[{"Key":"x"}],"Set":[{"Key":"b"}]}}`, 2},
	} {
		var w, g any
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(tt.got), &g); err != nil {
			t.Fatal(err)
		}
		if d := sameShape("x", w, g); len(d) != tt.diffs {
			t.Errorf("%s: %d differences %v, want %d", tt.got, len(d), d, tt.diffs)
		}
	}
}
