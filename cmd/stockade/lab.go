package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/netlab"
	"github.com/stockade/stockade/netmap"
)

func labCmd() *cobra.Command {
	var dataDir string
	cmd := dataDirCmd("lab", "List lab instances and run commands inside them (needs a server running as root)", `Every running instance of a server that runs as root is a lab instance: a network
namespace with the private address of its interface, filtered by its security groups.

  stockade lab list
  sudo stockade lab exec i-0123456789abcdef0 -- curl -s http://10.0.1.20:8080/
  sudo stockade lab ssh i-0123456789abcdef0 -i deploy.pem`, &dataDir)
	list := &cobra.Command{
		Use:   "list",
		Short: "List lab instances: addresses, namespace, image, type, limits and state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ins, err := adminapi.Dial(dataDir).LabInstances(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "INSTANCE\tACCOUNT\tVPC\tADDRESS\tIPV6\tNAMESPACE\tIMAGE\tTYPE\tLIMITS\tSTATE")
			for _, in := range ins {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.Account, in.VpcID, in.Address,
					orDash(strings.Join(in.IPv6, ",")), in.Namespace, orDash(in.ImageID), orDash(in.InstanceType), limits(in.Limits), orDash(in.State))
			}
			return w.Flush()
		},
	}
	execCmd := &cobra.Command{
		Use:   "exec INSTANCE -- COMMAND [ARG...]",
		Short: "Run a command inside a lab instance, as its root (needs root)",
		Long: `Run a command inside a lab instance's sandbox as the instance's root, like a session
manager, with this terminal's input and output; its exit status is the command's. The command
sees what the instance's own processes see: its root filesystem, its processes, its interfaces
(eth0, and eth1... for an instance with several network interfaces) — so every packet it sends
obeys the security groups of the interface it leaves through and its subnet's network ACL — and
it has the instance's limits, capabilities and seccomp filter, nothing of the host.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := bootedInstance(cmd.Context(), adminapi.Dial(dataDir), args[0])
			if err != nil {
				return err
			}
			{
				c, err := sandboxCommand(in, args[1:])
				if err != nil {
					return err
				}
				c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
				err = c.Run()
				var exit *exec.ExitError
				if errors.As(err, &exit) {
					os.Exit(exit.ExitCode())
				}
				return err
			}
		},
	}
	cmd.AddCommand(list, execCmd, labConnectCmd(&dataDir), labSSHCmd(&dataDir), labInternetCmd(&dataDir))
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// limits shows an instance's limits in one word: 512MiB/2vcpu/1024procs/1024MiB-disk.
func limits(l netmap.Limits) string {
	if l == (netmap.Limits{}) {
		return "-"
	}
	return fmt.Sprintf("%dMiB/%dvcpu/%dprocs/%dMiB-disk", l.MemoryMiB, l.VCPUs, l.Processes, l.DiskMiB)
}

// bootedInstance finds a lab instance by ID, waiting up to 10 s for a sandbox that is still
// booting (an instance just launched), so that scripts can run lab exec right after
// RunInstances.
func bootedInstance(ctx context.Context, c *adminapi.Client, id string) (netmap.LabInstance, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ins, err := c.LabInstances(ctx)
		if err != nil {
			return netmap.LabInstance{}, err
		}
		i := slices.IndexFunc(ins, func(in netmap.LabInstance) bool { return in.ID == id })
		switch {
		case i < 0:
			return netmap.LabInstance{}, fmt.Errorf("%s is not a running lab instance (see stockade lab list)", id)
		case ins[i].PID != 0 || time.Now().After(deadline):
			return ins[i], nil
		}
		select {
		case <-ctx.Done():
			return netmap.LabInstance{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// labInternetCmd is `stockade lab internet [--] CMD...`: a command on the internet side of the
// lab, as the internet host.
func labInternetCmd(dataDir *string) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "internet [--] COMMAND [ARG...]",
		Short: "Run a command on the lab's internet side, as the internet host " + netlab.InternetHost.String() + " (needs root)",
		Long: `Run a command in the lab's internet namespace, as a client or server "on the internet" at
` + netlab.InternetHost.String() + `. It reaches instances only by their public addresses (public IPs given on
launch, Elastic IPs), through an attached internet gateway, a route to it in the instance's
subnet and the instance's security groups (a rule must admit ` + netlab.InternetHost.String() + ` or 0.0.0.0/0); a
server it starts sees instances going out through an internet gateway with their public
address, and private ones behind a NAT gateway with the NAT gateway's. The namespace exists
while some VPC with a lab instance has an internet gateway attached.

  sudo stockade lab internet -- curl -s http://198.18.0.2/
  sudo stockade lab internet -- python3 -m http.server 8000`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("lab internet"); err != nil {
				return err
			}
			if prefix == "" {
				ins, err := adminapi.Dial(*dataDir).LabInstances(cmd.Context())
				if err != nil {
					return err
				}
				prefix = labPrefix(ins)
			}
			names := netlab.Names{Prefix: prefix}
			if err := names.Validate(); err != nil {
				return err
			}
			if !netlab.Exists(names.Internet()) {
				return fmt.Errorf("no internet namespace %s: attach an internet gateway to the VPC of a running instance first", names.Internet())
			}
			c := names.InternetCommand(cmd.Context(), args...)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
			err := c.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				os.Exit(exit.ExitCode())
			}
			return err
		},
	}
	cmd.Flags().StringVar(&prefix, "lab-prefix", "", "the server's --lab-prefix (default: learned from its lab instances, else stk)")
	return cmd
}

// labPrefix is the lab prefix of a server, learned from its lab instances' router namespaces
// (<prefix>-<vpc>), or the default prefix when it has none.
func labPrefix(ins []netmap.LabInstance) string {
	for _, in := range ins {
		if p, ok := strings.CutSuffix(in.Router, "-"+in.VpcID); ok && p != "" {
			return p
		}
	}
	return "stk"
}
