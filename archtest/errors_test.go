package archtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stockade/stockade/model"
)

// An EC2 error is made from the catalogue (model/codes.go), never from a code written out where
// it is used: a struct literal with a code string is how the same code came to carry five
// wordings and a status kept in a second table.
var codeLiteral = regexp.MustCompile(`model\.Error\{\s*Code:|[^.\w]Error\{Code: "`)

// Leaf packages (sigv4, query) keep their own {Code, Message} errors so that they import nothing
// of ours; the codes they answer with must still be in the catalogue, which gives their status.
var leafError = regexp.MustCompile(`&Error\{"([A-Za-z.]+)"`)

func TestErrorsComeFromTheCatalogue(t *testing.T) {
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && d.Name() != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		if loc := codeLiteral.FindIndex(b); loc != nil && !strings.HasPrefix(rel, "model"+string(filepath.Separator)) {
			t.Errorf("%s: an error built from a code literal (%q): use the catalogue's code", rel, b[loc[0]:loc[1]])
		}
		for _, m := range leafError.FindAllSubmatch(b, -1) {
			if _, ok := model.LookupCode(string(m[1])); !ok {
				t.Errorf("%s answers with %s, which the catalogue (model/codes.go) lacks", rel, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
