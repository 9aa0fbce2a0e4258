package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/cluster"
	"github.com/stockade/stockade/store/etcd"
)

func hostsCmd() *cobra.Command {
	var dataDir string
	var asJSON bool
	var opts etcd.Options
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "List the hosts instances are placed on: zone, capacity, what is used, state, last heartbeat",
		Long: `List the hosts that run instances when Stockade spans several machines: each host's
availability zone, capacity, the vCPUs and memory its instances take, how many there are,
whether it is up (its agent's last heartbeat is younger than its lease) or down, and its
labels. A host reserved for one account (dedicated instances, or a Dedicated Host) names it.

Without --etcd-endpoints it asks the running server through its data directory; with them it
reads the etcd cluster directly, as any API server of the cluster would. With no host
registered, instances run on the server's own machine (README, Placement and tenancy).

  stockade hosts
  stockade hosts --etcd-endpoints http://10.0.0.5:2379 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hosts, err := readHosts(cmd.Context(), dataDir, opts)
			if err != nil {
				return err
			}
			if asJSON {
				e := json.NewEncoder(cmd.OutOrStdout())
				e.SetIndent("", "  ")
				return e.Encode(hosts)
			}
			return printHosts(cmd, hosts, time.Now())
		},
	}
	dataDirFlag(cmd, &dataDir, "data directory of the running server (without --etcd-endpoints)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the hosts as JSON")
	etcdFlags(cmd, &opts, "comma-separated client URLs of the etcd cluster to read the hosts from, instead of asking the server")
	return cmd
}

// readHosts asks the server, or reads the etcd cluster when endpoints are given.
func readHosts(ctx context.Context, dataDir string, opts etcd.Options) ([]cluster.Status, error) {
	if len(opts.Endpoints) == 0 {
		return adminapi.Dial(dataDir).Hosts(ctx)
	}
	if opts.Password == "" {
		opts.Password = os.Getenv(etcdPasswordEnv)
	}
	st, err := etcd.Open(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("--etcd-endpoints: %w", err)
	}
	defer st.Close()
	return cluster.Statuses(ctx, st, time.Now())
}

func printHosts(cmd *cobra.Command, hosts []cluster.Status, now time.Time) error {
	if len(hosts) == 0 {
		fmt.Fprintln(cmd.OutOrStdout(), "No host is registered: instances run on the server's own machine.")
		return nil
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tZONE\tCAPACITY\tUSED\tINSTANCES\tSTATE\tHEARTBEAT\tDEDICATED TO\tLABELS")
	for _, h := range hosts {
		var labels []string
		for _, k := range slices.Sorted(maps.Keys(h.Labels)) {
			labels = append(labels, k+"="+h.Labels[k])
		}
		fmt.Fprintf(w, "%s\t%s\t%d vCPU %d MiB\t%d vCPU %d MiB\t%d\t%s\t%s ago\t%s\t%s\n", h.Name, h.Zone, h.VCPUs, h.MemoryMiB,
			h.Used.VCPUs, h.Used.MemoryMiB, h.Used.Instances, h.State, now.Sub(h.Heartbeat).Round(time.Second),
			orDash(h.Dedicated), orDash(strings.Join(labels, ",")))
	}
	return w.Flush()
}
