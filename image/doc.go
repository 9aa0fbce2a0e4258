// Package image is Stockade's catalogue of machine images (AMIs): the images an instance may
// boot, kept by the operator in the data directory under images/, one directory per image
// (images/<ami-id>/image.json and images/<ami-id>/rootfs). Images are operator state, public to
// every account, and are imported while the server runs (`stockade image import`), so they
// live in files rather than in the store; a Catalog re-reads the directory only when it changed.
//
// One image needs no files: the default image (DefaultID), which a host assembles from its own
// read-only /usr and a generated /etc. Every other image is a root filesystem extracted from a
// tarball or an OCI image layout by Import, which confines every path to the image's directory
// (os.Root), keeps only regular files, directories, symlinks and hard links, drops setuid and
// setgid bits and shifts ownership into the range sandboxes map their users to (HostIDBase).
//
// The package depends on nothing else of Stockade's: the control plane validates ImageIds
// against a Catalog, the API lists it, and a host reads RootFS.
package image
