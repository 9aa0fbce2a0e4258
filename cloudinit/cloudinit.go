package cloudinit

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxUserData is EC2's limit on user data, decoded from base64 but before any gzip
// decompression (control.MaxUserData; this package is a leaf and repeats it).
const MaxUserData = 16 << 10

// MaxDecompressed bounds what gzip-compressed user data, or gzip-compressed write_files
// content, may decompress to: 64 times MaxUserData (1 MiB), far above any real boot script
// and far below what would let 16 KiB of gzip (which compresses zeros about 1000:1) fill the
// instance's memory or disk.
const MaxDecompressed = 64 * MaxUserData

// Kind says how the caller runs a Plan's Script.
type Kind int

const (
	// None: there is no user data; nothing runs.
	None Kind = iota
	// Shell: Script is run by /bin/sh.
	Shell
	// Exec: Script names its interpreter ("#!"); the caller makes the file executable and
	// runs it directly.
	Exec
)

func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case Shell:
		return "shell"
	case Exec:
		return "exec"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Plan is what an instance runs at first boot: Script, the file to write into the instance,
// and how to run it.
type Plan struct {
	Kind   Kind
	Script []byte
}

// Argv is the command line that runs the plan's script once written at path inside the
// instance; nil for None.
func (p Plan) Argv(path string) []string {
	switch p.Kind {
	case Shell:
		return []string{"/bin/sh", path}
	case Exec:
		return []string{path}
	}
	return nil
}

// Instance is what a script needs to know of its instance.
type Instance struct {
	// ID is the instance ID (i-…), given to bootcmd as INSTANCE_ID as cloud-init does.
	ID string
	// Hostname is the name EC2 gives the instance (ip-10-0-1-4); /etc/hostname and /etc/hosts
	// use it when the cloud-config names none.
	Hostname string
	// DefaultUser is the image's default user, who gets the top-level ssh_authorized_keys and
	// whom users' "default" names; empty means ec2-user, Amazon Linux's.
	DefaultUser string
	// Root prefixes every path the script writes. It is for tests, which run the script
	// unprivileged in a directory; an instance's script writes its own root (empty).
	Root string
}

// DefaultUser is the default user of the default image, as on Amazon Linux.
const DefaultUser = "ec2-user"

func (in Instance) check() (Instance, error) {
	if in.DefaultUser == "" {
		in.DefaultUser = DefaultUser
	}
	if err := checkName(in.DefaultUser); err != nil {
		return in, fmt.Errorf("default user: %w", err)
	}
	if in.Hostname == "" {
		in.Hostname = "localhost"
	}
	if err := checkHostname(in.Hostname); err != nil {
		return in, err
	}
	if strings.ContainsAny(in.ID+in.Root, "\x00\n") {
		return in, errors.New("instance ID and root must be one line without NUL")
	}
	return in, nil
}

// Script reads an instance's user data and returns what its sandbox runs at first boot (see
// the package documentation for the formats). Problems with the user data's contents give a
// Plan that prints them and fails, as cloud-init would at boot; an error means the caller
// broke the contract: user data over MaxUserData or an invalid Instance.
func Script(userData []byte, in Instance) (Plan, error) {
	if len(userData) > MaxUserData {
		return Plan{}, fmt.Errorf("user data is %d bytes; the limit is %d", len(userData), MaxUserData)
	}
	in, err := in.check()
	if err != nil {
		return Plan{}, fmt.Errorf("cloudinit: %w", err)
	}
	if len(userData) == 0 {
		return Plan{}, nil
	}
	data := userData
	if gzipped(data) {
		if data, err = gunzip(data); err != nil {
			return failing("user data is gzip-compressed but does not decompress: " + err.Error()), nil
		}
	}
	return plan(data, in), nil
}

// plan dispatches decompressed user data on its first line, as cloud-init's handlers do.
func plan(data []byte, in Instance) Plan {
	switch {
	case bytes.HasPrefix(data, []byte("#!")):
		return Plan{Kind: Exec, Script: data}
	case bytes.HasPrefix(data, []byte("#cloud-config-archive")):
		return unsupported("#cloud-config-archive")
	case bytes.HasPrefix(data, []byte("#cloud-config")):
		c := parseConfig(data)
		return render(c, nil, in)
	case isMIME(data):
		return multipartPlan(data, in)
	}
	for _, h := range []string{"#include", "#part-handler", "#upstart-job", "## template:"} {
		if bytes.HasPrefix(data, []byte(h)) {
			return unsupported(h)
		}
	}
	return Plan{Kind: Shell, Script: data}
}

func unsupported(format string) Plan {
	return failing("user data in cloud-init's " + format + " format is not supported in a lab instance")
}

// failing is a script that prints msg to the console and exits 1, changing nothing.
func failing(msg string) Plan {
	var w writer
	w.raw("#!/bin/sh\n")
	w.cmd("printf", "[stockade] %s\\n", printable(msg))
	w.raw("exit 1\n")
	return Plan{Kind: Shell, Script: w.bytes()}
}

func gzipped(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// gunzip decompresses b, refusing more than MaxDecompressed bytes.
func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, MaxDecompressed+1))
	if err != nil {
		return nil, err
	}
	if len(out) > MaxDecompressed {
		return nil, fmt.Errorf("it decompresses to more than %d bytes", MaxDecompressed)
	}
	return out, nil
}
