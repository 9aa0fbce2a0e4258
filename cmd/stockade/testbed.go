package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/host"
	"github.com/stockade/stockade/netlab"
)

// testbedCmd makes and removes simulated hosts on one machine (docs/cross-host.md): a fabric
// bridge and one network namespace per host with its underlay address, so that several agents
// can run on one machine as if each had a host of its own.
func testbedCmd() *cobra.Command {
	prefix := "tb"
	cmd := &cobra.Command{
		Use:   "testbed",
		Short: "Make or remove simulated hosts on this machine, to try several hosts (stockade agent) on one",
		Long: `Make or remove a testbed of simulated hosts on this machine (root): a fabric namespace with a
bridge, and per host a namespace holding its underlay address (192.0.2.N/24), where the
host's agent runs its VXLAN tunnels (stockade agent --underlay-netns). Each host's lab prefix
is the testbed's prefix, "h" and its number. "down" removes every namespace of the prefix,
the hosts' routers and instances included, and the instances' processes, cgroups and root
filesystems (agents keep their labs when they stop).`,
	}
	hosts := 3
	// The API server the agents send their hosts' flow-log records to, with the operator's key.
	api, creds := "http://127.0.0.1:8787", filepath.Join(defaultDataDir(), datadir.Credentials)
	up := &cobra.Command{
		Use:   "up",
		Short: "Make the fabric and the hosts, and print each host's agent flags",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("the testbed makes network namespaces: run it as root")
			}
			tb, err := netlab.NewTestbed(cmd.Context(), prefix, hosts)
			if err != nil {
				return err
			}
			for _, h := range tb.Hosts {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: --host %s --underlay %s --underlay-netns %s --lab-prefix %s --internet-netns %s --api-endpoint %s --credentials %s\n",
					h.Name, h.Name, h.Underlay, h.Namespace, h.Names.Prefix, tb.Internet(), api, creds)
			}
			return nil
		},
	}
	up.Flags().IntVar(&hosts, "hosts", hosts, "how many hosts (1 to 9)")
	up.Flags().StringVar(&api, "api-endpoint", api, "the API server the printed agent flags send flow-log records to")
	up.Flags().StringVar(&creds, "credentials", creds, "that server's credentials file (<its data dir>/"+datadir.Credentials+"), printed for the agents")
	down := &cobra.Command{
		Use:   "down",
		Short: "Remove every namespace of the testbed, and its instances' processes, cgroups and root filesystems",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cg, cerr := host.DetectCgroups("/sys/fs/cgroup"); cerr == nil { // none: no limits, nothing to remove
				err = cg.RemoveAll(prefix)
			}
			return errors.Join(err, (&netlab.Testbed{Prefix: prefix}).Close(cmd.Context()), host.RemoveRoots(prefix))
		},
	}
	cmd.PersistentFlags().StringVar(&prefix, "prefix", prefix, "the testbed's prefix (1 to 3 characters): every namespace it makes starts with it")
	cmd.AddCommand(up, down)
	return cmd
}
