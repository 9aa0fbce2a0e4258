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
//
// # Shape of an operation
//
// Every write is func (s *Service) Xxx(ctx, Tenant, XxxInput) returning (Result, error), or
// (out, Result, error) when it has one output: a model object, an ID, a list, or an XxxOutput
// struct when there are several. The input carries DryRun (and ClientToken where the action
// is idempotent); actions that name one resource and nothing else take IDInput. Each write
// runs through Service.write (service.go), which stages the change in memory, commits it to
// the store in one transaction and undoes it on failure or DryRun.
//
// # Files
//
//   - <family>.go (vpc, subnet, group, rules, interfaces, instances, keypair, nacls,
//     prefixlists, flowlogs, insights, tags): the family's operations, input and output types
//     and the tenant's lookups (tn.vpc, tn.eni, …); <family>_test.go beside it.
//   - view.go: every read accessor of View, whatever its family, so that what a reader can
//     see is in one place; snapshot.go: the tenant's network as netmap.Snapshot (tenant.snapshot,
//     View.Snapshot), which the analyser, the agent's feed and the admin API use.
//   - service.go: Open, the write and read pipeline, durability; tenant.go: the tenant's maps
//     and the transaction (tx); kinds.go: the resource-kind table; quotas.go: the quotas;
//     idempotency.go: client tokens (fingerprint, replay, remember) and their pruning;
//     retention.go: what is purged as it ages (terminated instances); feed.go: the host
//     reconciler's feed (Networks, Watch); admission.go: the admission hook's view of what a
//     write changed (before and after) and the membership index it reads.
package control
