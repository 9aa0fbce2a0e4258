// Package iam keeps each account's IAM and STS entities — users, access keys, groups, roles,
// inline and managed policies, role sessions — durably in the store, and answers the IAM
// (2010-05-08) and STS (2011-06-15) actions on them (spec/trail-iam.md §4 and §5).
//
// IAM is global: every entity belongs to an account, never to a region, and one account's
// entities are invisible to every other. The Service is the only writer of the "iam/" keys;
// it loads them all at Open and keeps them in memory, as control does with its kinds.
//
// The package decides who a caller is (Lookup, Root) and what policies apply to it
// (Policies), but not whether a call is allowed: that is the evaluator's (package iampolicy),
// plugged in through Config — Validate and ValidateTrust check documents at write time,
// Trust judges a role's trust policy on AssumeRole, IdentityAllows the caller's own policies
// where the trust policy names only the account, and Decoder opens authorization messages.
// Nothing here is mounted in the server yet: a key this package issues must not authenticate
// until policies are enforced, or it would be all-powerful.
//
// Users and roles carry up to MaxTags tags (TagUser, TagRole, …). An account holds at most
// Quotas.SessionsPerAccount role sessions; a session is kept ExpiredSessionGrace past its
// expiry (its key answers ExpiredToken meanwhile) and then dropped, at Open or by AssumeRole.
//
// The Query protocol (request parsing, XML replies and error envelopes) is in iam/iamapi.
package iam
