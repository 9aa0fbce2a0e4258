// Package procmem reads how much of a file this process has resident through its memory
// maps, from /proc/self/smaps: what tests of code that maps files (the embedded store) check
// after telling the kernel to drop the pages.
package procmem

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// MappedKB is the resident size, in KiB, of this process's memory maps of the file at path.
func MappedKB(path string) (int, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	kb, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			// A mapping's header: address range, permissions, offset, device, inode, path.
			in = len(fields) == 6 && fields[5] == path
		case in && len(fields) == 3 && fields[0] == "Rss:":
			n, err := strconv.Atoi(fields[1])
			if err != nil {
				return 0, err
			}
			kb += n
		}
	}
	return kb, sc.Err()
}
