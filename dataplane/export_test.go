package dataplane

import "github.com/mdlayher/netlink"

// NetlinkCovers reports whether NFT sends a transaction over netlink itself.
func NetlinkCovers(tx string) bool { _, ok := compileNetlink(tx); return ok }

// NetlinkSet is the set description NFT sends a named set's elements with.
var NetlinkSet = setOf

// SocketOf is the netlink socket NFT keeps open for a namespace, or nil; sockets of namespaces
// that are gone are closed at every use of another (SweepAlways).
func SocketOf(k NFT, ns string) *netlink.Conn {
	sockets.Lock()
	s := sockets.m[k.NSDir+"/"+ns]
	sockets.Unlock()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nl
}

// SweepAlways makes every use of a socket look for those of namespaces that are gone.
func SweepAlways() func() {
	old := sweepEvery
	sweepEvery = 0
	return func() { sweepEvery = old }
}

// PatchLines is patchLines with the last rendering given as its lines.
func PatchLines(prevIn, prevLines, elems []string) ([]string, bool) {
	return patchLines(prevIn, &Object{Lines: prevLines}, elems)
}
