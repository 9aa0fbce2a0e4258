package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

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
	args := []string{"--target", strconv.Itoa(in.PID),
		"--user", "--mount", "--pid", "--ipc", "--uts", "--cgroup", "--net", "--root", "--wd", "--",
		// --dev-bind: the sandbox's own /dev (bwrap's, with the host's null, zero, tty…) stays
		// usable; its other mounts keep their nodev.
		"/usr/bin/bwrap", "--dev-bind", "/", "/", "--cap-drop", "ALL"}
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
