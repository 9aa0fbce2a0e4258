// Package atomicfile writes a file inside an os.Root so that it appears whole or not at all:
// written under a temporary name in the same directory, fsynced, then renamed over the final
// name. Readers (an S3 GET, a tool reading exported logs) never see half a file, and a crash
// leaves at most a temporary file behind.
package atomicfile

import (
	"os"
)

// Write writes data to name in root, through tmp (a name in the same directory that nothing
// else uses), with perm. On failure the temporary file is removed and name is untouched.
func Write(root *os.Root, name, tmp string, data []byte, perm os.FileMode) error {
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
	}
	return err
}
