// Package model holds Stockade's value types: the resources of the EC2 security-group world
// (VPCs, subnets, security groups and their rules, network interfaces, instances, key pairs,
// tags) and the validation and normalisation rules that make them mean what they mean on AWS.
//
// Everything here is plain data. Types are copied, compared and serialised freely; the control
// service treats stored values as immutable and replaces them on change (copy on write), so a
// reader holding a *Group never sees it change under it. Nothing in this package imports any
// other Stockade package.
//
// Behaviour comes from ../shared/spec/aws-behaviour.md (§1–§4); the section is cited where a rule
// is not obvious.
package model
