package ec2api

import (
	"regexp"
	"slices"
	"strings"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/ec2api/query"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
)

// DescribeImages lists the image catalogue. Every image is the operator's and public to every
// account: its owner is image.OwnerID with the alias "amazon" (EC2's for its own images), so
// Owner.N=amazon or =000000000000 lists them all and Owner.N=self, an account's own images,
// lists none. EC2's fields that Stockade has no use for are shown as an Amazon Linux image
// shows them: EBS-backed, /dev/xvda, HVM on Xen, ENA, Linux/UNIX.

// accountID is a 12-digit AWS account ID, one form of Owner.N.
var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// imageOwners reads Owner.N: self, amazon, aws-marketplace, aws-backup-vault or account IDs.
func imageOwners(r *query.Request) (func(image.Image) bool, error) {
	owners, err := ids(r, "Owner")
	if err != nil || len(owners) == 0 {
		return func(image.Image) bool { return true }, err
	}
	ours := false
	for _, o := range owners {
		switch {
		case o == image.OwnerAlias || o == image.OwnerID:
			ours = true
		case o == "self" || o == "aws-marketplace" || o == "aws-backup-vault" || accountID.MatchString(o):
		default:
			return nil, model.InvalidValue("Invalid value '%.64s' for Owner: an account ID, self, amazon, aws-marketplace or aws-backup-vault", o)
		}
	}
	return func(image.Image) bool { return ours }, nil
}

var imageFilters = filterer[image.Image]{
	fields: fields[image.Image]{
		"image-id":            one2(func(i image.Image) string { return i.ID }),
		"name":                one2(func(i image.Image) string { return i.Name }),
		"description":         one2(func(i image.Image) string { return i.Description }),
		"architecture":        one2(func(i image.Image) string { return i.Architecture }),
		"owner-id":            one2(func(image.Image) string { return image.OwnerID }),
		"owner-alias":         one2(func(image.Image) string { return image.OwnerAlias }),
		"state":               one2(func(image.Image) string { return "available" }),
		"is-public":           one2(func(image.Image) string { return "true" }),
		"image-type":          one2(func(image.Image) string { return "machine" }),
		"root-device-type":    one2(func(image.Image) string { return "ebs" }),
		"root-device-name":    one2(func(image.Image) string { return rootDevice }),
		"virtualization-type": one2(func(image.Image) string { return "hvm" }),
		"hypervisor":          one2(func(image.Image) string { return "xen" }),
		"platform-details":    one2(func(image.Image) string { return "Linux/UNIX" }),
		"ena-support":         one2(func(image.Image) string { return "true" }),
	},
	// Images carry no tags: tag filters are valid and match nothing.
	tagsOf: func(image.Image) model.Tags { return nil },
}

const rootDevice = "/dev/xvda"

var describeImages = describeSpec[image.Image]{
	IDs:  []string{"ImageId"},
	Keep: imageOwners,
	From: func(c *call, _ control.View) source[image.Image] {
		svc := c.svc()
		return src(func() []image.Image {
			ims := svc.Images()
			slices.SortFunc(ims, func(a, b image.Image) int { return strings.Compare(a.ID, b.ID) })
			return ims
		}, svc.Image)
	},
	Filters: imageFilters,
	Key:     func(i image.Image) string { return i.ID },
	Set:     "imagesSet",
	Item:    writeImage,
}

func writeImage(c *call, im image.Image) {
	x := &c.out
	x.str("imageId", im.ID)
	x.str("imageLocation", image.OwnerAlias+"/"+im.Name)
	x.str("imageState", "available")
	x.str("imageOwnerId", image.OwnerID)
	x.time("creationDate", im.Created)
	x.bool("isPublic", true)
	x.str("architecture", im.Architecture)
	x.str("imageType", "machine")
	x.str("imageOwnerAlias", image.OwnerAlias)
	x.str("name", im.Name)
	x.opt("description", im.Description)
	x.str("rootDeviceType", "ebs")
	x.str("rootDeviceName", rootDevice)
	x.open("blockDeviceMapping")
	x.open("item")
	x.str("deviceName", rootDevice)
	x.open("ebs")
	x.bool("deleteOnTermination", true)
	x.int("volumeSize", volumeGiB(im.Size))
	x.str("volumeType", "gp3")
	x.bool("encrypted", false)
	x.close("ebs")
	x.close("item")
	x.close("blockDeviceMapping")
	x.str("virtualizationType", "hvm")
	x.str("hypervisor", "xen")
	x.bool("enaSupport", true)
	x.str("platformDetails", "Linux/UNIX")
	x.str("usageOperation", "RunInstances")
}

// volumeGiB is the root volume an image shows: its files rounded up to GiB, at least 8 GiB
// (the size of Amazon Linux's root volume; the default image's files are the host's).
func volumeGiB(size int64) int64 {
	return max(8, (size+1<<30-1)>>30)
}
