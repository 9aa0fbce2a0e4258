// Package archtest holds tests of the repository's shape: the import direction between
// Stockade's packages, the dependencies kept out of the binary, and package documentation.
// It has no code of its own.
package archtest
