// Package auth keeps Stockade's accounts: each has a 12-digit account ID and one access key
// pair, is stored durably, and owns its resources alone. The SigV4 verifier in auth/sigv4
// checks signatures against the secrets held here.
package auth
