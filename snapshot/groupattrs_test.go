package snapshot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

// TestLoadGroupAttributes: a group's description and tags are read, and the group named
// "default" is its VPC's default group (Describe output has no flag for it), so that the
// offline audit judges them as the live one does (SGH-001/002/006/007).
func TestLoadGroupAttributes(t *testing.T) {
	dir := copyValid(t)
	path := filepath.Join(dir, "describe-security-groups.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rewritten := strings.Replace(string(b), `"GroupName": "db"`, `"GroupName": "default"`, 1)
	rewritten = strings.Replace(rewritten, `"GroupName": "web"`, `"GroupName": "web", "Tags": [{"Key": "owner", "Value": "web-team"}]`, 1)
	if rewritten == string(b) {
		t.Fatal("the test data changed: no group names to rewrite")
	}
	if err := os.WriteFile(path, []byte(rewritten), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	type attrs struct {
		Name, Description string
		Default           bool
		Tags              model.Tags
	}
	var got []attrs
	for _, g := range s.Groups {
		got = append(got, attrs{g.Name, g.Description, g.Default, g.Tags})
	}
	want := []attrs{{"web", "web", false, model.Tags{"owner": "web-team"}}, {"default", "db", true, nil}}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b model.Tags) bool {
		return len(a) == len(b) && cmp.Equal(map[string]string(a), map[string]string(b))
	})); d != "" {
		t.Errorf("groups (-want +got):\n%s", d)
	}
}
