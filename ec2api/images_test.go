package ec2api

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/image"
)

// testImages is a fixed catalogue: the default image with a fixed architecture (the golden
// reply must not depend on the host's) and two imported images.
type testImages []image.Image

func (f testImages) Get(id string) (image.Image, bool) {
	for _, im := range f {
		if im.ID == id {
			return im, true
		}
	}
	return image.Image{}, false
}

func (f testImages) List() []image.Image { return slices.Clone(f) }

var (
	alpineImage = image.Image{ID: "ami-0a1b2c3d4e5f60718", Name: "alpine-3.20", Description: "Alpine Linux 3.20",
		Architecture: "x86_64", Created: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), Size: 9 << 30, RootFS: "/var/lib/stockade/images/ami-0a1b2c3d4e5f60718/rootfs"}
	debianImage = image.Image{ID: "ami-0f00000000000000d", Name: "debian-12-arm", Architecture: "arm64",
		Created: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC), Size: 300 << 20}
)

func fixedImages() testImages {
	d := image.Default()
	d.Architecture = "x86_64"
	return testImages{d, alpineImage, debianImage}
}

func TestDescribeImages(t *testing.T) {
	cfg := control.DefaultConfig()
	cfg.Images = fixedImages()
	c := newTestAPIWith(t, cfg).newAccount("alice")
	all := []string{alpineImage.ID, image.DefaultID, debianImage.ID} // by ID
	tests := []struct {
		name   string
		params []string
		want   []string
	}{
		{"all", nil, all},
		{"by ID", kv("ImageId.1", debianImage.ID, "ImageId.2", image.DefaultID), []string{image.DefaultID, debianImage.ID}},
		{"owner amazon", kv("Owner.1", "amazon"), all},
		{"owner by account", kv("Owner.1", image.OwnerID), all},
		{"owner self", kv("Owner.1", "self"), nil},
		{"owner another account", kv("Owner.1", "123456789012"), nil},
		{"owner self or amazon", kv("Owner.1", "self", "Owner.2", "amazon"), all},
		{"executable by all", kv("ExecutableBy.1", "all"), all},
		{"name wildcard", kv("Filter.1.Name", "name", "Filter.1.Value.1", "*-3.2?"), []string{alpineImage.ID}},
		{"name of the default", kv("Filter.1.Name", "name", "Filter.1.Value.1", "stockade-*"), []string{image.DefaultID}},
		{"image-id", kv("Filter.1.Name", "image-id", "Filter.1.Value.1", alpineImage.ID), []string{alpineImage.ID}},
		{"architecture", kv("Filter.1.Name", "architecture", "Filter.1.Value.1", "arm64"), []string{debianImage.ID}},
		{"owner-id", kv("Filter.1.Name", "owner-id", "Filter.1.Value.1", image.OwnerID), all},
		{"state", kv("Filter.1.Name", "state", "Filter.1.Value.1", "available"), all},
		{"state pending", kv("Filter.1.Name", "state", "Filter.1.Value.1", "pending"), nil},
		{"is-public", kv("Filter.1.Name", "is-public", "Filter.1.Value.1", "true"), all},
		{"private", kv("Filter.1.Name", "is-public", "Filter.1.Value.1", "false"), nil},
		{"tag", kv("Filter.1.Name", "tag:Name", "Filter.1.Value.1", "x"), nil},
		{"two filters", kv("Filter.1.Name", "architecture", "Filter.1.Value.1", "x86_64", "Filter.2.Name", "name", "Filter.2.Value.1", "alpine*"),
			[]string{alpineImage.ID}},
		{"page", kv("MaxResults", 5), all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := xmlFields(c.ok("DescribeImages", tt.params...), "imageId")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
		})
	}
	for _, tt := range []struct {
		name, code string
		params     []string
	}{
		{"unknown ID", "InvalidAMIID.NotFound", kv("ImageId.1", "ami-0123456789abcdef0")},
		{"known and unknown", "InvalidAMIID.NotFound", kv("ImageId.1", alpineImage.ID, "ImageId.2", "ami-12345678")},
		{"malformed ID", "InvalidAMIID.Malformed", kv("ImageId.1", "ami-xyz")},
		{"unknown filter", "InvalidParameterValue", kv("Filter.1.Name", "colour", "Filter.1.Value.1", "blue")},
		{"bad owner", "InvalidParameterValue", kv("Owner.1", "someone")},
	} {
		t.Run(tt.name, func(t *testing.T) { c.fails(tt.code, "DescribeImages", tt.params...) })
	}
	if r := c.fails("InvalidAMIID.NotFound", "DescribeImages", "ImageId.1", "ami-0123456789abcdef0"); !strings.Contains(r.Body, "The image id &apos;[ami-0123456789abcdef0]&apos; does not exist") {
		t.Errorf("message: %s", r.Body)
	}
}

// TestRunInstancesImage checks ImageId at the API: an imported image launches, an unknown one
// is InvalidAMIID.NotFound, and with AnyImage it launches and DescribeInstances shows the ID.
func TestRunInstancesImage(t *testing.T) {
	for _, anyImage := range []bool{false, true} {
		cfg := control.DefaultConfig()
		cfg.Images, cfg.AnyImage = fixedImages(), anyImage
		c := newTestAPIWith(t, cfg).newAccount("alice")
		run := func(id string) []string {
			return kv("ImageId", id, "MinCount", 1, "MaxCount", 1, "InstanceType", "t3.micro")
		}
		if got := xmlFields(c.ok("RunInstances", run(alpineImage.ID)...), "imageId"); !slices.Equal(got, []string{alpineImage.ID}) {
			t.Errorf("launched image %v", got)
		}
		c.fails("InvalidAMIID.Malformed", "RunInstances", run("ami-1x")...)
		c.fails("InvalidParameterValue", "RunInstances", kv("ImageId", alpineImage.ID, "MinCount", 1, "MaxCount", 1, "InstanceType", "foo.bar")...)
		if !anyImage {
			c.fails("InvalidAMIID.NotFound", "RunInstances", run("ami-12345678")...)
			continue
		}
		id := xmlFields(c.ok("RunInstances", run("ami-12345678")...), "instanceId")[0]
		if got := xmlFields(c.ok("DescribeInstances", "InstanceId.1", id), "imageId"); !slices.Equal(got, []string{"ami-12345678"}) {
			t.Errorf("any image: instance shows image %v", got)
		}
	}
}
