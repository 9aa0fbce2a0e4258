package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Image is one machine image. Images are values: the Catalog hands out copies.
type Image struct {
	ID          string `json:"id"` // ami- and 17 lowercase hex digits
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Architecture is EC2's name for it: x86_64 or arm64 (i386, arm for older images).
	Architecture string    `json:"architecture"`
	Created      time.Time `json:"created"`
	// SourceDigest identifies what the image was imported from: the sha256 of a tarball, or
	// the digest of an OCI image's manifest. Empty for the default image.
	SourceDigest string `json:"sourceDigest,omitempty"`
	// Size is the bytes of the regular files of the root filesystem (0 for the default image).
	Size int64 `json:"size"`
	// RootFS is the absolute path of the image's root filesystem, its files owned by
	// HostIDBase and up; "" for the default image, which the host assembles itself. It is not
	// stored in image.json (the directory may move with the data directory).
	RootFS string `json:"-"`
}

// IsDefault reports whether the image is the default image, which has no root filesystem of
// its own.
func (i Image) IsDefault() bool { return i.ID == DefaultID }

// DefaultID is the default image's ID: a constant, so that scripts and tests can name it.
const DefaultID = "ami-0defa017000000001"

// DefaultName is the default image's name.
const DefaultName = "stockade-default"

// OwnerID is the account that owns every image of the catalogue, as DescribeImages shows it
// (imageOwnerId, with the alias "amazon"): images are the provider's, public to every account,
// as Amazon's own images are on EC2. No tenant account owns an image, so Owners=self lists none.
const OwnerID = "000000000000"

// OwnerAlias is the alias of OwnerID: Owners=amazon lists the catalogue.
const OwnerAlias = "amazon"

// defaultCreated is the default image's creation date: fixed, so that it shows the same on
// every host and every start.
var defaultCreated = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Default returns the default image.
func Default() Image {
	return Image{
		ID: DefaultID, Name: DefaultName,
		Description:  "Stockade default image: the host's /usr (read-only) with a generated /etc and ec2-user; nothing else of the host",
		Architecture: HostArchitecture(), Created: defaultCreated,
	}
}

// HostArchitecture is EC2's name for the architecture of the machine Stockade runs on.
func HostArchitecture() string { return ArchitectureOf(runtime.GOARCH) }

// ArchitectureOf maps a Go or OCI architecture name (amd64, arm64, 386, arm) to EC2's
// (x86_64, arm64, i386, arm); an unknown name is kept as it is.
func ArchitectureOf(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "386":
		return "i386"
	}
	return goarch
}

// metaFile is the name of an image's metadata in its directory; rootfsDir its root filesystem.
const (
	metaFile  = "image.json"
	rootfsDir = "rootfs"
)

// Catalog is the catalogue of images kept in one directory (the data directory's images/).
// It is safe for concurrent use, and cheap to call on every request: List and Get re-read the
// directory only when its modification time changed.
type Catalog struct {
	dir string

	mu     sync.Mutex
	mtime  time.Time // of dir when images was read
	readAt time.Time
	images []Image // the default image first, then by creation time and ID
}

// Open returns the catalogue kept in dir (<datadir>/images). The directory need not exist: then
// the catalogue holds only the default image.
func Open(dir string) *Catalog { return &Catalog{dir: dir} }

// Dir is the directory the catalogue is kept in.
func (c *Catalog) Dir() string { return c.dir }

// List returns every image, the default image first, then the imported ones oldest first.
func (c *Catalog) List() []Image {
	if c == nil {
		return []Image{Default()}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh()
	return slices.Clone(c.images)
}

// Get returns the image with an ID.
func (c *Catalog) Get(id string) (Image, bool) {
	for _, im := range c.List() {
		if im.ID == id {
			return im, true
		}
	}
	return Image{}, false
}

// refresh re-reads the directory if it changed since it was last read. A change within the
// file system's timestamp granularity of the last read could leave the mtime unchanged, so a
// directory modified less than a second before it was read is read again.
func (c *Catalog) refresh() {
	fi, err := os.Stat(c.dir)
	var mtime time.Time
	if err == nil {
		mtime = fi.ModTime()
	}
	if c.images != nil && mtime.Equal(c.mtime) && c.readAt.Sub(mtime) > time.Second {
		return
	}
	c.readAt = time.Now()
	c.mtime = mtime
	c.images = append([]Image{Default()}, readImages(c.dir)...)
}

// readImages reads the metadata of every image in dir. Entries that are not images (the
// temporary directories of imports under way, whose names start with a dot, or anything
// without a readable image.json) are left out.
func readImages(dir string) []Image {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []Image
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		im, err := readMeta(filepath.Join(dir, e.Name()))
		if err != nil || im.ID != e.Name() {
			continue
		}
		out = append(out, im)
	}
	slices.SortFunc(out, func(a, b Image) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func readMeta(dir string) (Image, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return Image{}, err
	}
	var im Image
	if err := json.Unmarshal(b, &im); err != nil {
		return Image{}, err
	}
	abs, err := filepath.Abs(filepath.Join(dir, rootfsDir))
	if err != nil {
		return Image{}, err
	}
	im.RootFS = abs
	return im, nil
}

// ValidID reports whether s has the shape of an image ID: ami- and 8 or 17 lowercase hex
// digits.
func ValidID(s string) bool {
	rest, ok := strings.CutPrefix(s, "ami-")
	if !ok || (len(rest) != 8 && len(rest) != 17) {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
