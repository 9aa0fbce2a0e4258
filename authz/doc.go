// Package authz joins who a caller is to what it may do: it resolves SigV4 credentials to a
// principal (an account's root keys in auth.Registry, an IAM user's AKIA… key or a role
// session's ASIA… key and token in package iam), compiles each principal's policies once
// (package iampolicy) and caches them until one of them changes, and decides every call of
// every API the server speaks — EC2 (through ec2api), IAM and STS (through Front, which
// authenticates and authorizes before handing the call to iam/iamapi) — with the condition
// keys of shared/spec/trail-iam.md §6.5. Denials carry §6.6's texts; an EC2 denial also
// carries the sealed authorization message that STS DecodeAuthorizationMessage opens.
// Front also records every authenticated IAM and STS call in the change trail (trail.go),
// a write's record in the write's own store transaction.
//
// It is glue: the evaluator, the entities and the wire formats live in their own packages.
package authz
