package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stockade/stockade/adminapi"
)

func labCmd() *cobra.Command {
	var dataDir string
	cmd := dataDirCmd("lab", "List lab instances and run commands inside them (needs a server running as root)", `Every running instance of a server that runs as root is a lab instance: a network
namespace with the private address of its interface, filtered by its security groups.

  stockade lab list
  sudo stockade lab exec i-0123456789abcdef0 -- curl -s http://10.0.1.20:8080/`, &dataDir)
	list := &cobra.Command{
		Use:   "list",
		Short: "List lab instances with their addresses and namespaces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ins, err := adminapi.Dial(dataDir).LabInstances(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "INSTANCE\tACCOUNT\tVPC\tADDRESS\tIPV6\tNAMESPACE")
			for _, in := range ins {
				six := strings.Join(in.IPv6, ",")
				if six == "" {
					six = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.Account, in.VpcID, in.Address, six, in.Namespace)
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
			ins, err := adminapi.Dial(dataDir).LabInstances(cmd.Context())
			if err != nil {
				return err
			}
			for _, in := range ins {
				if in.ID != args[0] {
					continue
				}
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
			return fmt.Errorf("%s is not a running lab instance (see stockade lab list)", args[0])
		},
	}
	cmd.AddCommand(list, execCmd)
	return cmd
}
