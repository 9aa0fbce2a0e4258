// Package e2e tests the stockade binary from outside, as its users drive it: the AWS SDK for
// Go and the AWS CLI against a server process started by the test, two accounts, emulator
// mode, and kill -9 in the middle of a burst of writes. It has no code of its own.
package e2e
