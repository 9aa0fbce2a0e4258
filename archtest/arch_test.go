package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/stockade/stockade"

type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
	Name       string
}

func list(t *testing.T, args ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestImportDirection keeps the architecture of style.md: model depends on nothing of ours,
// the store on nothing but itself, nothing imports ec2api but the binary.
func TestImportDirection(t *testing.T) {
	allowed := map[string][]string{
		"model":           {},
		"store":           {},
		"store/bolt":      {"store"},
		"store/storetest": {"store"},
		"auth/sigv4":      {},
		"keypair":         {},
		"ec2api/query":    {},
		"auth":            {"store"},
		"control":         {"model", "store", "keypair", "policy", "reach"},
		"policy":          {"model"},
		"reach":           {"model", "policy"},
		"snapshot":        {"model", "policy"},
		"datadir":         {}, // a leaf: the binary, the lab and the admin socket may all use it
		"adminapi":        {"auth", "store", "policy", "model"},
		"ec2api":          {"model", "control", "auth", "auth/sigv4", "ec2api/query", "store", "keypair", "policy", "reach"},
		"dataplane":       {"model", "policy"},
		"netlab":          {},
		"agent":           {"model", "policy", "dataplane", "control", "store", "keypair", "reach"},
		"lab":             {"model", "policy", "dataplane", "control", "store", "keypair", "reach", "agent", "netlab"},
	}
	for _, p := range list(t, "./...") {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		ok, checked := allowed[rel]
		for _, d := range p.Deps {
			if !strings.HasPrefix(d, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(d, module+"/")
			if strings.HasPrefix(dep, "ec2api") && !strings.HasPrefix(rel, "ec2api") && !strings.HasPrefix(rel, "cmd/") {
				t.Errorf("%s depends on %s: only cmd/ may import the API layer", rel, dep)
			}
			if checked && !contains(ok, dep) && !strings.HasPrefix(dep, "internal") {
				t.Errorf("%s depends on %s; allowed: %v", rel, dep, ok)
			}
		}
	}
}

// TestBinaryStaysLight keeps heavy dependencies (the AWS SDK, the etcd server) out of the
// non-test build of the binary.
func TestBinaryStaysLight(t *testing.T) {
	for _, p := range list(t, "-deps", "./cmd/stockade") {
		for _, banned := range []string{"github.com/aws/aws-sdk-go-v2", "go.etcd.io/etcd/server"} {
			if strings.HasPrefix(p.ImportPath, banned) {
				t.Errorf("the stockade binary links %s", p.ImportPath)
			}
		}
	}
}

// TestPackageDocs requires a package comment on every package.
func TestPackageDocs(t *testing.T) {
	for _, p := range list(t, "./...") {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment", p.ImportPath)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
