package imds

import (
	"net/netip"
	"time"

	"github.com/stockade/stockade/model"
)

// Instance is everything the metadata service shows one instance, as data. The service that
// builds it (control.Service.Metadata) reads the current state; nothing here is cached.
type Instance struct {
	ID            string
	AccountID     string
	Region, AZ    string
	ImageID       string
	InstanceType  string
	ReservationID string
	LaunchIndex   int
	PendingTime   time.Time // the launch time
	// Hostname is the IP-based name of the primary address (model.PrivateDNSName).
	Hostname string
	// PrivateIPv4 and MAC are the primary interface's.
	PrivateIPv4 netip.Addr
	MAC         string
	// KeyName and PublicKey are the launch key: PublicKey is the snapshot taken at launch,
	// empty when the instance was launched without a key.
	KeyName, PublicKey string
	// UserData is the decoded user data; nil when there is none.
	UserData   []byte
	Interfaces []Interface // primary (device 0) first
	Tags       map[string]string
	Options    model.MetadataOptions // with defaults filled in
}

// Interface is one attached network interface, as network/interfaces/macs/<mac>/ shows it.
type Interface struct {
	MAC            string
	ID             string
	DeviceNumber   int
	SubnetID       string
	SubnetCIDR     netip.Prefix
	SubnetIPv6CIDR netip.Prefix // invalid when the subnet has none
	VpcID          string
	VpcCIDRs       []netip.Prefix // primary first
	VpcIPv6CIDRs   []netip.Prefix
	OwnerID        string
	IPv4s          []netip.Addr // primary first
	IPv6s          []netip.Addr
	GroupNames     []string
	GroupIDs       []string // in the order of GroupNames
}

// Source returns the current view of an instance, or false when it does not exist (any more).
// It is called on every request and must be safe for concurrent use.
type Source func(id string) (Instance, bool)
