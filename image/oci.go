package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"strings"
)

// An OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):
// index.json lists manifests (or nested indexes), a manifest names a config and its layers, and
// every one of them is a blob under blobs/<algorithm>/<hex>, named by its digest.

type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Platform  *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform,omitempty"`
}

type ociIndex struct {
	Manifests []ociDescriptor `json:"manifests"`
}

type ociManifest struct {
	MediaType string          `json:"mediaType"`
	Config    ociDescriptor   `json:"config"`
	Layers    []ociDescriptor `json:"layers"`
}

// maxJSON bounds the index, manifests and config read into memory.
const maxJSON = 4 << 20

// blobPath returns a blob's path in the layout, refusing any digest that is not sha256 and 64
// lowercase hex digits (a digest is a name in the layout: it must not be a path).
func blobPath(digest string) (string, error) {
	hexs, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexs) != 64 {
		return "", fmt.Errorf("digest %q: only sha256 digests are supported", digest)
	}
	for _, c := range hexs {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", fmt.Errorf("digest %q is malformed", digest)
		}
	}
	return "blobs/sha256/" + hexs, nil
}

// verifier checks, once its blob has been read to the end, that it matches its digest.
type verifier struct {
	digest string
	h      hash.Hash
}

func (v verifier) check() error {
	if got := "sha256:" + hex.EncodeToString(v.h.Sum(nil)); got != v.digest {
		return fmt.Errorf("blob %s has digest %s: the layout is corrupt", v.digest, got)
	}
	return nil
}

// openBlob opens a blob of the layout for reading through its digest check.
func openBlob(layout *os.Root, digest string) (io.Reader, *os.File, verifier, error) {
	p, err := blobPath(digest)
	if err != nil {
		return nil, nil, verifier{}, err
	}
	f, err := layout.Open(p)
	if err != nil {
		return nil, nil, verifier{}, err
	}
	v := verifier{digest: digest, h: sha256.New()}
	return io.TeeReader(f, v.h), f, v, nil
}

func readJSONBlob(layout *os.Root, digest string, into any) error {
	r, f, v, err := openBlob(layout, digest)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxJSON+1))
	if err != nil {
		return err
	}
	if len(b) > maxJSON {
		return fmt.Errorf("blob %s: larger than %d bytes", digest, maxJSON)
	}
	if err := v.check(); err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

const (
	mediaOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mediaDockerIndex = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// pick chooses the manifest for this host: the one whose platform is linux and the host's
// architecture, else the only one, else the first without a platform.
func pick(ds []ociDescriptor) (ociDescriptor, error) {
	if len(ds) == 0 {
		return ociDescriptor{}, errors.New("the index lists no manifest")
	}
	for _, d := range ds {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return d, nil
		}
	}
	for _, d := range ds {
		if d.Platform == nil || len(ds) == 1 {
			return d, nil
		}
	}
	return ociDescriptor{}, fmt.Errorf("no manifest for linux/%s in the index", runtime.GOARCH)
}

// applyLayout applies the layers of the layout in dir, in order, and returns the image's
// architecture (from its config) and source digest (its manifest's).
func applyLayout(x *extractor, dir string) (Image, error) {
	layout, err := os.OpenRoot(dir)
	if err != nil {
		return Image{}, err
	}
	defer layout.Close()
	b, err := layout.ReadFile("index.json")
	if err != nil {
		return Image{}, fmt.Errorf("OCI layout: %w", err)
	}
	var idx ociIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		return Image{}, fmt.Errorf("OCI layout: index.json: %w", err)
	}
	d, err := pick(idx.Manifests)
	for depth := 0; err == nil && (d.MediaType == mediaOCIIndex || d.MediaType == mediaDockerIndex); depth++ {
		if depth == 4 {
			return Image{}, errors.New("OCI layout: indexes nested too deep")
		}
		var nested ociIndex
		if err := readJSONBlob(layout, d.Digest, &nested); err != nil {
			return Image{}, err
		}
		d, err = pick(nested.Manifests)
	}
	if err != nil {
		return Image{}, fmt.Errorf("OCI layout: %w", err)
	}
	var m ociManifest
	if err := readJSONBlob(layout, d.Digest, &m); err != nil {
		return Image{}, fmt.Errorf("OCI layout: manifest: %w", err)
	}
	var cfg struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	}
	if err := readJSONBlob(layout, m.Config.Digest, &cfg); err != nil {
		return Image{}, fmt.Errorf("OCI layout: config: %w", err)
	}
	if cfg.OS != "" && cfg.OS != "linux" {
		return Image{}, fmt.Errorf("OCI layout: the image is for %s, not linux", cfg.OS)
	}
	if len(m.Layers) > x.lim.Layers {
		return Image{}, fmt.Errorf("OCI layout: %d layers, more than the limit of %d", len(m.Layers), x.lim.Layers)
	}
	for i, l := range m.Layers {
		if err := applyLayer(x, layout, l.Digest); err != nil {
			return Image{}, fmt.Errorf("layer %d (%s): %w", i+1, l.Digest, err)
		}
	}
	arch := HostArchitecture()
	if cfg.Architecture != "" {
		arch = ArchitectureOf(cfg.Architecture)
	}
	return Image{Architecture: arch, SourceDigest: d.Digest}, nil
}

func applyLayer(x *extractor, layout *os.Root, digest string) error {
	r, f, v, err := openBlob(layout, digest)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := x.apply(r); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, r); err != nil { // the padding after the tar's end
		return err
	}
	return v.check()
}
