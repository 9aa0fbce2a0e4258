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
	"io/fs"
	"os"
	"strings"
	"time"

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
	name := hostname(in.Address)
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

// removeIfExists removes name from dir, a missing file being no error.
func removeIfExists(dir *os.Root, name string) error {
	if err := dir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
