package control

import (
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/model"
)

// Images lists every image of the catalogue, the default image first. Images are public to
// every account (they are the operator's, not a tenant's), so no tenant is needed.
func (s *Service) Images() []image.Image {
	if s.cfg.Images == nil {
		return []image.Image{image.Default()}
	}
	return s.cfg.Images.List()
}

// Image looks up an image by ID: InvalidAMIID.Malformed for an ID that is not ami- and hex
// digits (model.ValidID: a short one such as ami-123abc is well-formed), and
// InvalidAMIID.NotFound ("The image id '[ami-…]' does not exist", EC2's wording, brackets
// included) for one the catalogue does not hold.
func (s *Service) Image(id string) (image.Image, error) {
	if !model.ValidID("ami", id) {
		return image.Image{}, model.InvalidAMIIDMalformed.New(id)
	}
	if s.cfg.Images == nil {
		if id == image.DefaultID {
			return image.Default(), nil
		}
	} else if im, ok := s.cfg.Images.Get(id); ok {
		return im, nil
	}
	return image.Image{}, model.InvalidAMIIDNotFound.New(id)
}

// launchImage is the image RunInstances launches for an ImageId: the catalogue's, or, with
// AnyImage, the default image for an ID the catalogue does not hold.
func (s *Service) launchImage(id string) (image.Image, error) {
	im, err := s.Image(id)
	if err != nil && s.cfg.AnyImage && model.ValidID("ami", id) {
		return image.Default(), nil
	}
	return im, err
}
