package archtest

import (
	"encoding/json"
	"os/exec"
	"slices"
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

// imports lists, for every package of ours, the packages of ours it may import directly. A
// package missing here fails the test: a new package states where it sits. cmd/ wires
// everything and is not listed; neither are test-only packages.
var imports = map[string][]string{
	"model":            {},
	"netmap":           {"model"},
	"store":            {},
	"store/bolt":       {"store", "internal/frame"},
	"store/storetest":  {"store"},
	"auth/sigv4":       {},
	"keypair":          {},
	"ec2api/query":     {},
	"auth":             {"store"},
	"policy":           {"model", "netmap"},
	"reach":            {"model", "netmap", "policy"},
	"snapshot":         {"model", "netmap"},
	"control":          {"model", "netmap", "store", "keypair", "reach", "imds", "image", "cluster"},
	"imds":             {"model"},
	"ec2api":           {"model", "control", "auth", "auth/sigv4", "ec2api/query", "image", "authz", "iam", "iampolicy", "store", "trail", "objstore/s3api", "logstore", "logstore/logsapi", "events/eventsapi"},
	"adminapi":         {"auth", "model", "netmap", "cluster"},
	"dataplane":        {"model", "netmap", "internal/nsthread"},
	"netlab":           {"internal/nsthread"},
	"datadir":          {},
	"cloudinit":        {},
	"image":            {},
	"host":             {"model", "netmap", "dataplane", "netlab", "imds", "cloudinit", "image", "flowlog"},
	"host/nsfake":      {"netlab"},
	"iampolicy":        {},
	"iam":              {"store"},
	"iam/iamapi":       {"iam"},
	"trail":            {"store", "internal/atomicfile", "internal/frame"},
	"authz":            {"auth", "auth/sigv4", "iam", "iam/iamapi", "iampolicy", "store", "trail"},
	"audit":            {"model", "netmap", "policy", "reach", "flows"},
	"objstore":         {"model", "internal/atomicfile"},
	"objstore/s3api":   {"model", "objstore"},
	"logstore":         {"model", "objstore"},
	"logstore/logsapi": {"model", "logstore"},
	"flowlog":          {"model", "objstore", "logstore"},
	"flows":            {"model", "netmap", "policy"},
	// An agent's records reach the API server's Writer over HTTP, signed as the operator.
	"flowlog/relay": {"flowlog", "model", "auth/sigv4"},

	// The event bus follows the trail; its JSON API speaks for it.
	"events":           {"store", "trail"},
	"events/eventsapi": {"events"},

	// The etcd backend, and its test-only embedded server (TestBinaryStaysLight keeps the
	// server out of the binary).
	"store/etcd":          {"store"},
	"store/etcd/etcdtest": {},

	// The host registry: agents, `stockade hosts` and placement read and write it.
	"cluster": {"store"},
}

// forbidden lists dependencies, direct or not, that a package must never have, and why.
var forbidden = map[string]map[string]string{
	"model": {
		"netmap": "model is the leaf every package shares; it depends on nothing of ours",
	},
	"netmap": {
		"policy":  "netmap is types only: consumers of the network must not drag in the compiler",
		"control": "netmap is types only: a per-host agent reads it without the service",
	},
	"policy": {
		"store":   "the engine answers offline snapshots (AWS exports) too, with no store",
		"control": "the engine answers offline snapshots too; the service calls it, not the reverse",
	},
	"audit": {
		"store":   "the auditor runs on offline snapshots (AWS exports) too, with no store",
		"control": "the auditor runs on offline snapshots; the server calls it, not the reverse",
	},
	"reach": {
		"store":   "reachability runs on offline snapshots with no store",
		"control": "reachability runs on offline snapshots; the service calls it, not the reverse",
	},
	"flows": {
		"store":   "the analyses read exported records and snapshots too, with no store",
		"control": "the analyses read exported records too; the server's data is handed to them",
	},
	"snapshot": {
		"policy":  "loading an export is data only; the caller decides what to compute",
		"control": "loading an export must not need the service",
	},
	"dataplane": {
		"control": "the data plane builds without the service, so that a per-host agent can run it",
		"store":   "the data plane renders what it is given; it never reads state itself",
		"policy":  "rendering needs the network, not the compiler (netmap holds the types)",
	},
	"host": {
		"control": "the host reconciler follows a Source; a per-host agent process has no service",
		"store":   "the host reconciler follows a Source, not the store's encoding",
		"policy":  "the host renders rulesets from the network; it does not need the compiler",
	},
	"adminapi": {
		"policy":  "the admin API carries snapshots; the client computes on them",
		"control": "the admin API is a wire format; the server wires it to the service",
	},
	"control": {
		"dataplane": "the service knows nothing of how a host enforces it",
		"netlab":    "the service knows nothing of how a host enforces it",
	},
	"imds": {
		"control": "the metadata service reads a Source; a per-host agent serves it without the service",
		"store":   "the metadata service reads a Source, not the store's encoding",
		"host":    "the host wires listeners to the metadata service, not the reverse",
	},
	"auth/sigv4": {
		"model": "the verifier is a leaf: its errors map to EC2's through the API layer",
	},
	"trail": {
		"control": "the control plane adds records to its own transactions; the trail never calls it",
	},
}

// TestImportDirection keeps the architecture of style.md: every package imports only what its
// entry in imports allows, never depends (even indirectly) on what forbidden names, and nothing
// imports the API layer but the binary.
func TestImportDirection(t *testing.T) {
	for _, p := range list(t, "./...") {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if strings.HasPrefix(rel, "cmd/") || strings.Contains(rel, "internal") || rel == "archtest" ||
			rel == "e2e" || strings.HasPrefix(rel, "tools/") {
			continue
		}
		allowed, listed := imports[rel]
		if !listed {
			t.Errorf("package %s is not in archtest's imports table: add it with the packages it may import", rel)
		}
		for _, d := range p.Imports {
			if dep, ours := strings.CutPrefix(d, module+"/"); ours && listed && !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s; allowed: %v", rel, dep, allowed)
			}
		}
		for _, d := range p.Deps {
			dep, ours := strings.CutPrefix(d, module+"/")
			if !ours {
				continue
			}
			if strings.HasPrefix(dep, "ec2api") && !strings.HasPrefix(rel, "ec2api") {
				t.Errorf("%s depends on %s: only cmd/ may import the API layer", rel, dep)
			}
			if why, bad := forbidden[rel][dep]; bad {
				t.Errorf("%s depends on %s: %s", rel, dep, why)
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
