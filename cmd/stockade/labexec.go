package main

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/netmap"
)

// sandboxCommand is `stockade lab exec`'s command: argv run inside an instance's sandbox as
// its root, as a session manager would — in the namespaces of the sandbox's first process
// (user, mount, PID, IPC, UTS, cgroup, network: nsenter), and then through bwrap with the same
// capabilities and seccomp filter as the instance's own processes, and a plain environment.
// The calling process first joins the instance's cgroups, so that what the command starts
// counts towards the instance's limits and ends with the instance. It must run as root.
func sandboxCommand(in netmap.LabInstance, argv []string) (*exec.Cmd, error) {
	if err := needRoot("lab exec"); err != nil {
		return nil, err
	}
	if in.PID == 0 {
		return nil, fmt.Errorf("the sandbox of %s is not running (state %s; see its console output)", in.ID, in.State)
	}
	profile, err := host.SeccompProfile()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if _, err := w.Write(profile); err != nil { // far below a pipe's buffer
		r.Close()
		return nil, err
	}
	for _, d := range in.Cgroups {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			r.Close()
			return nil, fmt.Errorf("join the instance's cgroup %s: %w", d, err)
		}
	}
	bwrap, err := hostBwrap()
	if err != nil {
		r.Close()
		return nil, err
	}
	args := append([]string{"--target", strconv.Itoa(in.PID),
		"--user", "--mount", "--pid", "--ipc", "--uts", "--cgroup", "--net", "--root", "--wd", "--"}, bwrap...)
	// --dev-bind: the sandbox's own /dev (bwrap's, with the host's null, zero, tty…) stays
	// usable; its other mounts keep their nodev.
	args = append(args, "--dev-bind", "/", "/", "--cap-drop", "ALL")
	for _, c := range host.Capabilities() {
		args = append(args, "--cap-add", c)
	}
	args = append(args, "--seccomp", "3", "--chdir", "/root", "--clearenv",
		"--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"--setenv", "HOME", "/root", "--setenv", "INSTANCE_ID", in.ID)
	if term := os.Getenv("TERM"); term != "" {
		args = append(args, "--setenv", "TERM", term)
	}
	args = append(args, "--")
	cmd := exec.Command("nsenter", append(args, argv...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.ExtraFiles = []*os.File{r}
	return cmd, nil
}

// hostBwrap is the command line that runs the host's bwrap inside a sandbox, whatever its
// image holds: the host's /usr is at host.HostUsr there, and bwrap runs through the host's
// dynamic loader with the host's libraries. A host whose loader is not under /usr (no merged
// /usr) runs the sandbox's own /usr/bin/bwrap, which the default image has.
func hostBwrap() ([]string, error) {
	f, err := elf.Open("/usr/bin/bwrap")
	if err != nil {
		return nil, fmt.Errorf("bwrap: %w", err)
	}
	defer f.Close()
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return nil, fmt.Errorf("bwrap's loader: %w", err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if interp == "" {
		return []string{host.HostUsr + "/bin/bwrap"}, nil // static
	}
	real, err := filepath.EvalSymlinks(interp)
	if err != nil || !strings.HasPrefix(real, "/usr/") {
		return []string{"/usr/bin/bwrap"}, nil
	}
	inside := func(p string) string { return host.HostUsr + strings.TrimPrefix(p, "/usr") }
	libs := strings.Join([]string{inside(filepath.Dir(real)), inside("/usr/lib"), inside("/usr/lib64")}, ":")
	return []string{inside(real), "--library-path", libs, inside("/usr/bin/bwrap")}, nil
}

// needRoot is the error of a lab command run without root: it enters namespaces and cgroups.
func needRoot(what string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("stockade %s enters the instance's namespaces: run it as root (sudo)", what)
	}
	return nil
}
