package host

// An instance's boot: the sandbox's first process is a generated shell script that starts
// sshd with the instance's host key and the launch key pair, runs the user data at first boot
// (cloud-init runs it once per instance), and then stays, so that the sandbox — and with it
// every process the instance started — lives as long as the instance.

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stockade/stockade/cloudinit"
	"golang.org/x/crypto/ssh"
)

// DefaultUser is the login user of the default image, as on Amazon Linux.
const DefaultUser = "ec2-user"

// rootKeyOptions prefix the launch key in root's authorized_keys, as cloud-init writes them
// with disable_root (its default): root may authenticate and is told whom to log in as.
const rootKeyOptions = `no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command="echo 'Please login as the user \"` +
	DefaultUser + `\" rather than the user \"root\".';echo;sleep 10;exit 142" `

// sshdConfig is sshd's configuration inside every instance: keys only, as on an EC2 image.
const sshdConfig = `# Written by Stockade at the instance's boot.
Port 22
AddressFamily any
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
X11Forwarding no
PidFile /run/sshd.pid
Subsystem sftp internal-sftp
`

// etcFiles are the generated /etc of the default image.
func etcFiles(name, addr string) []struct{ path, data string } {
	return []struct{ path, data string }{
		{"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n" +
			DefaultUser + ":x:1000:1000:EC2 Default User:/home/" + DefaultUser + ":/bin/sh\n" +
			"sshd:x:74:65534:Privilege-separated SSH:/run/sshd:/usr/sbin/nologin\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
		{"/etc/group", "root:x:0:\n" + DefaultUser + ":x:1000:\nnogroup:x:65534:\n"},
		{"/etc/hostname", name + "\n"},
		{"/etc/hosts", "127.0.0.1 localhost\n" + addr + " " + name + "\n"},
		{"/etc/ssh/sshd_config", sshdConfig},
	}
}

// bootScript is the sandbox's first process. fingerprint is the host key's (SHA256, as
// ssh-keygen -l prints it); imageUsers adds the default user and sshd's to an imported image's
// passwd when it lacks them; userData is the command line that runs the user data (already
// quoted), or empty when it does not run at this boot. sshd starts in the background, so that
// the user data does not wait for it (on EC2, too, cloud-init's user data and sshd start
// independently).
func bootScript(instance, fingerprint string, imageUsers bool, userData string) string {
	var b strings.Builder
	// The time is the host's when it wrote the script: no date(1) to run at every boot.
	now := time.Now().UTC().Format(time.RFC3339)
	fmt.Fprintf(&b, `#!/bin/sh
# The first process of a Stockade instance (host/boot.go).
echo "[stockade] %[2]s booting %[1]s"
`, instance, now)
	if imageUsers {
		fmt.Fprintf(&b, `# An imported image has users of its own: the default user and sshd's are added if missing.
grep -q '^%[1]s:' /etc/passwd || echo '%[1]s:x:1000:1000:EC2 Default User:/home/%[1]s:/bin/sh' >>/etc/passwd
grep -q '^%[1]s:' /etc/group || echo '%[1]s:x:1000:' >>/etc/group
grep -q '^sshd:' /etc/passwd || echo 'sshd:x:74:65534:Privilege-separated SSH:/run/sshd:/usr/sbin/nologin' >>/etc/passwd
`, DefaultUser)
	}
	fmt.Fprintf(&b, `chown -R 1000:1000 /home/%[1]s
echo "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
echo %[2]s
echo "-----END SSH HOST KEY FINGERPRINTS-----"
if [ -x /usr/sbin/sshd ]; then
	/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config &
else
	echo "[stockade] no sshd in this image (on the host: apt-get install openssh-server): no SSH"
fi
`, DefaultUser, shellQuote(fingerprint))
	if userData != "" {
		fmt.Fprintf(&b, `echo "[stockade] %s running user data for %s"
%s
echo "[stockade] user data finished with status $?"
`, now, instance, userData)
	}
	b.WriteString("exec sleep infinity\n")
	return b.String()
}

// hostKeyName is where an instance's SSH host key is kept between its boots, so that a
// client's known_hosts entry stays right across a server restart.
func hostKeyName(instance string) string { return instance + ".hostkey" }

// hostKeyPair returns the instance's SSH host key (OpenSSH PEM) and its public key.
func (h *Host) hostKeyPair(instance string) ([]byte, ssh.PublicKey, error) {
	private, err := h.dir.ReadFile(hostKeyName(instance))
	if errors.Is(err, fs.ErrNotExist) {
		_, key, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, nil, gerr
		}
		block, merr := ssh.MarshalPrivateKey(key, "root@"+instance)
		if merr != nil {
			return nil, nil, merr
		}
		private = pem.EncodeToMemory(block)
		err = writeNew(h.dir, hostKeyName(instance), private, 0o600)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("host key: %w", err)
	}
	key, err := ssh.ParsePrivateKey(private)
	if err != nil {
		return nil, nil, fmt.Errorf("host key %s: %w", hostKeyName(instance), err)
	}
	return private, key.PublicKey(), nil
}

// fingerprint is a host key's line as ssh-keygen -l prints it: "256 SHA256:… root@i-… (ED25519)".
func fingerprint(pub ssh.PublicKey, instance string) string {
	return "256 " + ssh.FingerprintSHA256(pub) + " root@" + instance + " (ED25519)"
}

// bootFiles adds what a boot needs to fs: /etc (an imported image keeps its passwd and
// group), sshd's keys, the authorized keys of ec2-user and root (when the instance was
// launched with a key pair). The seccomp filter comes separately.
func bootFiles(fs *fileSet, in Instance, defaultImage bool, hostPriv, hostPub []byte) error {
	name := hostname(in.LabInstance)
	for _, f := range etcFiles(name, in.Address) {
		if !defaultImage && (f.path == "/etc/passwd" || f.path == "/etc/group") {
			continue // the image's own; the boot script adds the users it lacks
		}
		if err := fs.data(f.path, "0644", []byte(f.data)); err != nil {
			return err
		}
	}
	if err := fs.data("/etc/ssh/ssh_host_ed25519_key", "0600", hostPriv); err != nil {
		return err
	}
	if err := fs.data("/etc/ssh/ssh_host_ed25519_key.pub", "0644", hostPub); err != nil {
		return err
	}
	if key := strings.TrimSpace(in.PublicKey); key != "" {
		if err := fs.data("/home/"+DefaultUser+"/.ssh/authorized_keys", "0600", []byte(key+"\n")); err != nil {
			return err
		}
		if err := fs.data("/root/.ssh/authorized_keys", "0600", []byte(rootKeyOptions+key+"\n")); err != nil {
			return err
		}
	}
	return nil
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// quoteArgv quotes a command line for sh.
func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// boot starts an instance's sandbox (sandbox.go, boot.go) unless it is already running (a
// restart with --keep-lab adopts it as it is). At the instance's first boot its user data runs
// in it; never again, and never in an instance whose namespace was adopted (it booted
// before). Without a sandbox (tests with fake namespaces) only the user data runs, directly.
func (h *Host) boot(in Instance, adopted bool) {
	log := h.cfg.Log.With("instance", in.ID)
	if h.cfg.Sandbox == nil {
		if !adopted {
			h.userData(in)
		}
		return
	}
	if h.sandboxRunning(in.ID) {
		log.Info("instance sandbox still running; adopted")
		return
	}
	first, err := h.firstBoot(in.ID)
	if err != nil {
		log.Error("first-boot mark", "error", err)
		return
	}
	first = first && !adopted
	console, err := openTail(h.dir, logName(in.ID), h.cfg.ConsoleLimit)
	if err != nil {
		log.Error("console log", "error", err)
		return
	}
	files := &fileSet{first: 5} // 3: the go-ahead, 4: bwrap's info, then the files
	defer files.close()         // the child has its own copies once started
	userData := ""
	if first {
		userData = h.firstBootScript(in, files, console)
	}
	root, defaultImage, err := h.rootFS(in)
	if err != nil {
		log.Error("root filesystem", "error", err)
		fmt.Fprintf(console, "[stockade] the instance did not boot: %v\n", err)
		console.Close()
		return
	}
	files.files = append(files.files, root) // closed with the others once the sandbox has it
	argv, err := h.sandboxArgv(in, userData, root, defaultImage, files)
	if err != nil {
		log.Error("sandbox", "error", err)
		fmt.Fprintf(console, "[stockade] the instance did not boot: %v\n", err)
		console.Close()
		return
	}
	h.startSandbox(in, console, argv, files)
}

// firstBootScript hands the instance's user data over to the sandbox, as the script that
// cloud-init's formats make of it (package cloudinit: a "#!" script as it is, #cloud-config
// as a shell script, MIME multi-part, gzip), and returns the quoted command line that runs it,
// or "" when nothing is to run.
func (h *Host) firstBootScript(in Instance, files *fileSet, console io.Writer) string {
	log := h.cfg.Log.With("instance", in.ID)
	if len(in.UserData) == 0 {
		return ""
	}
	plan, err := cloudinit.Script(in.UserData, cloudinit.Instance{ID: in.ID, Hostname: hostname(in.LabInstance), DefaultUser: DefaultUser})
	if err != nil {
		log.Error("user data", "error", err)
		fmt.Fprintf(console, "[stockade] user data not run: %v\n", err)
		return ""
	}
	if plan.Kind == cloudinit.None {
		return ""
	}
	if err := writeNew(h.dir, userDataName(in.ID), plan.Script, 0o700); err != nil {
		log.Error("user data", "error", err)
		return ""
	}
	f, err := h.dir.Open(userDataName(in.ID))
	if err != nil {
		log.Error("user data", "error", err)
		return ""
	}
	files.add(userDataPath, "0700", f)
	return quoteArgv(plan.Argv(userDataPath))
}

// firstBoot reports whether the instance boots for the first time, and marks that it has.
func (h *Host) firstBoot(instance string) (bool, error) {
	if _, err := h.dir.Lstat(bootedName(instance)); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, writeNew(h.dir, bootedName(instance), nil, 0o600)
}

// sandboxArgv is the command line of an instance's sandbox: a shell that waits for the
// go-ahead on descriptor 3 (given once the host has put it in the instance's cgroups, so that
// nothing of the tenant ever runs outside them), then bwrap with the instance's files, the
// seccomp filter and the boot script.
func (h *Host) sandboxArgv(in Instance, userData string, root *os.File, defaultImage bool, files *fileSet) ([]string, error) {
	profile, err := seccompProfile()
	if err != nil {
		return nil, err
	}
	hostPriv, pub, err := h.hostKeyPair(in.ID)
	if err != nil {
		return nil, err
	}
	hostPub := ssh.MarshalAuthorizedKey(pub)
	seccompFD, err := files.pipe(profile)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	rootFD := slices.Index(files.files, root) + files.first
	if err := bootFiles(files, in, defaultImage, hostPriv, hostPub); err != nil {
		return nil, err
	}
	if err := files.data(bootPath, "0755", []byte(bootScript(in.ID, fingerprint(pub, in.ID), !defaultImage, userData))); err != nil {
		return nil, err
	}
	argv := []string{"/bin/sh", "-c", `read -r go <&3 || exit 125; exec 3<&-; exec "$@"`, "sh"}
	argv = append(argv, h.cfg.Sandbox.bwrapArgv(hostname(in.LabInstance), rootFD, defaultImage)...)
	argv = append(argv, files.args...)
	argv = append(argv, "--info-fd", "4", "--seccomp", strconv.Itoa(seccompFD),
		"--chdir", "/root", "--clearenv",
		"--setenv", "PATH", sandboxPath, "--setenv", "HOME", "/root", "--setenv", "INSTANCE_ID", in.ID,
		"--", "/bin/sh", bootPath)
	return argv, nil
}

// startSandbox starts an instance's sandbox in its network namespace, puts it in its
// cgroups, lets it go, and keeps its output as the console.
func (h *Host) startSandbox(in Instance, console io.WriteCloser, argv []string, files *fileSet) {
	log := h.cfg.Log.With("instance", in.ID)
	fail := func(what string, err error) {
		log.Error(what, "error", err)
		fmt.Fprintf(console, "[stockade] the instance did not boot: %s: %v\n", what, err)
		console.Close()
	}
	goR, goW, err := os.Pipe()
	if err != nil {
		fail("pipe", err)
		return
	}
	defer goW.Close()
	infoR, infoW, err := os.Pipe()
	if err != nil {
		goR.Close()
		fail("pipe", err)
		return
	}
	defer func() {
		if infoR != nil {
			infoR.Close()
		}
	}()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=" + sandboxPath}
	cmd.ExtraFiles = append([]*os.File{goR, infoW}, files.files...)
	cmd.SysProcAttr = h.cfg.Sandbox.userNamespace()
	pr, pw, err := os.Pipe()
	if err != nil {
		goR.Close()
		infoW.Close()
		fail("pipe", err)
		return
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = h.cfg.Namespaces.Start(in.Namespace, cmd)
	goR.Close()
	infoW.Close()
	pw.Close()
	if err != nil {
		pr.Close()
		fail("start", err)
		return
	}
	if cg := h.cgroups(); cg != nil {
		// Without its limits the instance does not run: a tenant's fork bomb or memory hog
		// would take the host down.
		l := LimitsOf(in.InstanceType)
		if err := cg.Place(in.Namespace, l, cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			pr.Close()
			fail("instance cgroups", err)
			return
		}
		log.Info("instance limits", "type", in.InstanceType, "memory_mib", l.MemoryMiB, "vcpus", l.VCPUs, "processes", l.Processes)
	}
	if _, err := goW.Write([]byte("go\n")); err != nil {
		_ = cmd.Process.Kill()
	}
	goW.Close()
	// The sandbox's PID is published (for lab exec) once its root filesystem is in place; the
	// reconcile does not wait for that.
	info := infoR
	infoR = nil
	h.scripts.Add(1)
	go func() {
		defer h.scripts.Done()
		defer info.Close()
		pid, err := readChildPID(info)
		if err == nil {
			// Generous: on a host starting hundreds of sandboxes a root takes many seconds, and
			// the sandbox ending is noticed at once.
			err = waitForRoot(pid, bootPath, 2*time.Minute)
		}
		if err == nil {
			err = h.dir.WriteFile(pidName(in.ID), []byte(procIdentity(pid)), 0o600)
		}
		if err != nil {
			log.Warn("sandbox pid", "error", err)
		}
	}()
	h.sandboxes.Store(in.ID, cmd)
	// One goroutine per instance, and no thread blocked in wait(2) while it runs: every
	// process of the sandbox holds the console pipe, and they all end together (its PID
	// namespace ends with its first process), so the end of the output is the end of the
	// instance, and only then is it waited for. With a thousand instances, a blocked thread
	// and a second goroutine each showed in the reconciler's latency.
	h.scripts.Add(1)
	go func() {
		defer h.scripts.Done()
		_, _ = io.Copy(console, pr)
		pr.Close()
		fmt.Fprintf(console, "[stockade] instance stopped (%s)\n", exitStatus(cmd.Wait()))
		console.Close()
		h.sandboxes.CompareAndDelete(in.ID, cmd)
	}()
}

// exitStatus describes how a command ended: "status N", or the error.
func exitStatus(err error) string {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return "status 0"
	case errors.As(err, &exit):
		return fmt.Sprintf("status %d", exit.ExitCode())
	}
	return err.Error()
}

// userData runs an instance's user data directly in its namespace, without a sandbox: for
// tests with fake namespaces only (Config.Sandbox nil).
func (h *Host) userData(in Instance) {
	if len(in.UserData) == 0 {
		return
	}
	log := h.cfg.Log.With("instance", in.ID)
	first, err := h.firstBoot(in.ID)
	if err != nil || !first {
		log.Info("user data ran at the instance's first boot; not running it again", "error", err)
		return
	}
	if err := writeNew(h.dir, userDataName(in.ID), in.UserData, 0o700); err != nil {
		log.Error("user data", "error", err)
		return
	}
	console, err := openTail(h.dir, logName(in.ID), h.cfg.ConsoleLimit)
	if err != nil {
		log.Error("console log", "error", err)
		return
	}
	h.startUserData(in, console, interpreter(in.UserData, h.cfg.Dir+"/"+userDataName(in.ID)), nil)
}
