// Package control is Stockade's service layer: every operation on VPCs, subnets, security
// groups and rules, network interfaces, instances, key pairs and tags, with EC2's validation,
// quotas and invariants.
//
// State lives in memory, one set of maps per account and region (a tenant), and every mutation
// is committed to the store in one transaction before the call returns: nothing acknowledged is
// lost. A request whose content the store refuses fails alone and leaves memory as it was; a
// commit that fails on the disk cannot be undone (later writes may build on it), so it stops
// the service until a restart reloads the durable state. Writes to a tenant are serialised by
// its lock; readers share it. Stored objects are never modified in place — a write clones,
// changes and replaces — so a pointer handed to a reader is a stable snapshot.
//
// Errors that reach clients are *model.Error values carrying EC2's error code.
package control
