package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

// labConnectCmd is `stockade lab connect`: a TCP connection to an instance, opened from a
// vantage point whose packets cross the VPC router — the VPC's operator attachment (outside
// the VPC, at netlab.OperatorAddr) or another instance (a bastion) — relayed to this
// process's standard input and output. It is what `stockade lab ssh` gives ssh as its
// ProxyCommand.
func labConnectCmd(dataDir *string) *cobra.Command {
	var from string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "connect INSTANCE|ADDRESS PORT",
		Short: "Relay standard input and output to a TCP port of an instance, through its VPC router (needs root)",
		Long: `Open a TCP connection to a port of a lab instance and relay this process's standard input and
output to it. The connection starts from the VPC's operator attachment, an address outside the
VPC (` + netlab.OperatorAddr.String() + `/32, or ` + netlab.OperatorAddr6.String() + `/128 for an instance of an
IPv6-only subnet, which has an IPv6 address only: a group rule must admit it, as it must admit
your own address on EC2), or with --from, from another instance of the VPC (a bastion: its egress rules
and the target's ingress rules decide). Either way it crosses the VPC router, so the target's
security groups and network ACL decide, as they would on EC2.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("lab connect"); err != nil {
				return err
			}
			port, err := strconv.ParseUint(args[1], 10, 16)
			if err != nil || port == 0 {
				return fmt.Errorf("port %q: want 1-65535", args[1])
			}
			ins, err := adminapi.Dial(*dataDir).LabInstances(cmd.Context())
			if err != nil {
				return err
			}
			target, err := findLabInstance(ins, args[0])
			if err != nil {
				return err
			}
			vantage := target.Operator
			if from != "" {
				bastion, err := findLabInstance(ins, from)
				if err != nil {
					return err
				}
				if bastion.VpcID != target.VpcID {
					return fmt.Errorf("%s is in %s, %s in %s: a bastion must be in the target's VPC", bastion.ID, bastion.VpcID, target.ID, target.VpcID)
				}
				vantage = bastion.Namespace
			}
			if vantage == "" {
				return fmt.Errorf("the VPC %s has no operator attachment (one of its subnets holds %s); use --from", target.VpcID, netlab.OperatorAddr)
			}
			addr := net.JoinHostPort(target.Address, strconv.FormatUint(port, 10))
			conn, err := netlab.DialFrom(vantage, "tcp", addr, timeout)
			if err != nil {
				return fmt.Errorf("connect to %s: %w", addr, err)
			}
			return relay(conn, os.Stdin, os.Stdout)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "open the connection from this instance (a bastion in the same VPC) instead of the operator attachment")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the connection")
	return cmd
}

// findLabInstance finds a lab instance by its ID or, when that is unambiguous, by its private
// address.
func findLabInstance(ins []netmap.LabInstance, idOrAddr string) (netmap.LabInstance, error) {
	if _, err := netip.ParseAddr(idOrAddr); err != nil {
		for _, in := range ins {
			if in.ID == idOrAddr {
				return in, nil
			}
		}
		return netmap.LabInstance{}, fmt.Errorf("%s is not a running lab instance (see stockade lab list)", idOrAddr)
	}
	var found []netmap.LabInstance
	for _, in := range ins {
		if in.Address == idOrAddr {
			found = append(found, in)
		}
	}
	switch len(found) {
	case 0:
		return netmap.LabInstance{}, fmt.Errorf("no lab instance has the address %s (see stockade lab list)", idOrAddr)
	case 1:
		return found[0], nil
	}
	return netmap.LabInstance{}, fmt.Errorf("%d lab instances have the address %s (in different VPCs): name the instance by its ID", len(found), idOrAddr)
}

// relay copies in to conn and conn to out until both directions end.
func relay(conn net.Conn, in io.Reader, out io.Writer) error {
	defer conn.Close()
	var wg sync.WaitGroup
	var upErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, upErr = io.Copy(conn, in)
		if tc, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
	}()
	_, err := io.Copy(out, conn)
	// The peer is done; what is left of the input no longer matters.
	conn.Close()
	wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	if upErr != nil && !errors.Is(upErr, net.ErrClosed) {
		return upErr
	}
	return nil
}

// labSSHCmd is `stockade lab ssh`: the system's ssh client to an instance, through `stockade lab
// connect` (so through the VPC router), with the instance's host key known beforehand.
func labSSHCmd(dataDir *string) *cobra.Command {
	var keyFile, user, from string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "ssh INSTANCE -i KEYFILE [-l USER] [--from BASTION] [-- COMMAND...]",
		Short: "SSH into a lab instance with its key pair, through its VPC router (needs root)",
		Long: `Run ssh to a lab instance as ec2-user (or -l USER) with the private key of the key pair it was
launched with. The connection goes through the VPC router from the VPC's operator attachment
(` + netlab.OperatorAddr.String() + `/32, or ` + netlab.OperatorAddr6.String() + `/128 for an instance of an IPv6-only subnet; a group
rule must admit tcp/22 from it) or, with --from, from a
bastion instance: the instance's security groups decide whether it connects. The instance's host
key is checked against the one it was booted with (its fingerprints are also in its console
output).

  stockade lab ssh i-0123456789abcdef0 -i deploy.pem
  stockade lab ssh i-0123456789abcdef0 -i deploy.pem -- uptime`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return errors.New("-i KEYFILE is required: the private key of the instance's key pair")
			}
			if err := needRoot("lab ssh"); err != nil {
				return err
			}
			in, err := bootedInstance(cmd.Context(), adminapi.Dial(*dataDir), args[0])
			if err != nil {
				return err
			}
			known, err := knownHostsFile(*dataDir, in.ID)
			if err != nil {
				return err
			}
			defer os.Remove(known)
			self, err := os.Executable()
			if err != nil {
				return err
			}
			proxy := shellWords(self, "lab", "--data-dir", *dataDir, "connect", "--timeout", timeout.String(), in.ID, "22")
			if from != "" {
				proxy += " --from " + shellWords(from)
			}
			sshArgs := []string{"-i", keyFile, "-l", user,
				"-o", "HostKeyAlias=" + in.ID, "-o", "UserKnownHostsFile=" + known, "-o", "StrictHostKeyChecking=yes",
				"-o", "ProxyCommand=" + proxy, in.Address}
			c := exec.CommandContext(context.WithoutCancel(cmd.Context()), "ssh", append(sshArgs, args[1:]...)...)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
			err = c.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				os.Remove(known)
				os.Exit(exit.ExitCode())
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&keyFile, "identity", "i", "", "the private key file of the instance's key pair (as ssh -i; it must not be readable by others)")
	cmd.Flags().StringVarP(&user, "login", "l", host.DefaultUser, "the user to log in as")
	cmd.Flags().StringVar(&from, "from", "", "connect from this instance (a bastion in the same VPC) instead of the operator attachment")
	cmd.Flags().DurationVar(&timeout, "connect-timeout", 10*time.Second, "how long to wait for the TCP connection (a group that admits nothing drops it silently)")
	return cmd
}

// knownHostsFile writes a known_hosts file with the instance's host key under its ID (ssh
// -o HostKeyAlias) and returns its path.
func knownHostsFile(dataDir, instance string) (string, error) {
	pem, err := os.ReadFile(filepath.Join(dataDir, datadir.Lab, instance+".hostkey"))
	if err != nil {
		return "", fmt.Errorf("the host key of %s: %w", instance, err)
	}
	key, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return "", fmt.Errorf("the host key of %s: %w", instance, err)
	}
	f, err := os.CreateTemp("", "stockade-known-hosts-")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s %s", instance, ssh.MarshalAuthorizedKey(key.PublicKey())); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// shellWords quotes words for the shell that ssh runs a ProxyCommand with.
func shellWords(words ...string) string {
	out := ""
	for i, w := range words {
		if i > 0 {
			out += " "
		}
		out += "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return out
}
