package model

import (
	"slices"
	"time"
)

// PrefixLaunchTemplate is a launch template's ID prefix (kept here, not in ids.go's block,
// so that adding it re-aligned nothing another change edits).
const PrefixLaunchTemplate = "lt"

// LaunchTemplate is a launch template: a name, its numbered versions (stored apart, as
// LaunchTemplateVersion records) and which of them is the default.
type LaunchTemplate struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	CreateTime time.Time `json:"created"`
	CreatedBy  string    `json:"by"`
	// DefaultVersion is what RunInstances uses when no version is named; LatestVersion is
	// the highest version number ever given (numbers are not reused after a deletion).
	DefaultVersion int  `json:"default"`
	LatestVersion  int  `json:"latest"`
	Tags           Tags `json:"tags,omitempty"`
}

// Clone returns a copy that may be modified freely.
func (t *LaunchTemplate) Clone() *LaunchTemplate { c := *t; c.Tags = t.Tags.Clone(); return &c }

// LaunchTemplateVersion is one immutable version of a launch template.
type LaunchTemplateVersion struct {
	TemplateID  string             `json:"lt"`
	Number      int                `json:"n"`
	Description string             `json:"desc,omitempty"`
	CreateTime  time.Time          `json:"created"`
	CreatedBy   string             `json:"by"`
	Data        LaunchTemplateData `json:"data"`
}

// LaunchTemplateData is what a version holds: the RunInstances parameters Stockade serves.
// Unset fields are nil or empty, and RunInstances' own parameters override what is set.
type LaunchTemplateData struct {
	ImageID          string                  `json:"image,omitempty"`
	InstanceType     string                  `json:"type,omitempty"`
	KeyName          string                  `json:"key,omitempty"`
	GroupIDs         []string                `json:"groups,omitempty"`
	GroupNames       []string                `json:"groupNames,omitempty"`
	UserData         string                  `json:"userData,omitempty"` // base64, as given and as EC2 returns it
	Interfaces       []LaunchTemplateENI     `json:"enis,omitempty"`
	Zone             string                  `json:"az,omitempty"`
	Tenancy          string                  `json:"tenancy,omitempty"`
	NoTermination    *bool                   `json:"noTermination,omitempty"`
	NoStop           *bool                   `json:"noStop,omitempty"`
	ShutdownBehavior string                  `json:"shutdown,omitempty"`
	MetadataOptions  *MetadataOptions        `json:"imds,omitempty"`
	TagSpecs         []LaunchTemplateTagSpec `json:"tagSpecs,omitempty"`
}

// LaunchTemplateENI is one NetworkInterface.N of a template's data.
type LaunchTemplateENI struct {
	DeviceIndex         *int     `json:"device,omitempty"`
	SubnetID            string   `json:"subnet,omitempty"`
	NetworkInterfaceID  string   `json:"eni,omitempty"`
	PrivateIP           string   `json:"ip,omitempty"`
	Description         string   `json:"desc,omitempty"`
	Groups              []string `json:"groups,omitempty"`
	AssociatePublicIP   *bool    `json:"public,omitempty"`
	DeleteOnTermination *bool    `json:"dot,omitempty"`
	IPv6Count           *int     `json:"ipv6Count,omitempty"`
}

// LaunchTemplateTagSpec is one TagSpecification.N of a template's data: tags for the
// instances ("instance") or interfaces ("network-interface") launched from it.
type LaunchTemplateTagSpec struct {
	ResourceType string `json:"type"`
	Tags         Tags   `json:"tags"`
}

// Clone returns a deep copy that may be modified freely.
func (d LaunchTemplateData) Clone() LaunchTemplateData {
	c := d
	c.GroupIDs, c.GroupNames = slices.Clone(d.GroupIDs), slices.Clone(d.GroupNames)
	c.Interfaces = make([]LaunchTemplateENI, len(d.Interfaces))
	for i, n := range d.Interfaces {
		n.Groups = slices.Clone(n.Groups)
		c.Interfaces[i] = n
	}
	if d.Interfaces == nil {
		c.Interfaces = nil
	}
	if d.MetadataOptions != nil {
		m := *d.MetadataOptions
		c.MetadataOptions = &m
	}
	c.TagSpecs = nil
	for _, ts := range d.TagSpecs {
		c.TagSpecs = append(c.TagSpecs, LaunchTemplateTagSpec{ts.ResourceType, ts.Tags.Clone()})
	}
	return c
}
