package dataplane

// NetlinkCovers reports whether NFT sends a transaction over netlink itself.
func NetlinkCovers(tx string) bool { _, ok := compileNetlink(tx); return ok }

// NetlinkSet is the set description NFT sends a named set's elements with.
var NetlinkSet = setOf
