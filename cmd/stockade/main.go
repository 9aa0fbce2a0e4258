// Command stockade is the one Stockade binary: `stockade server` runs the EC2-compatible API
// with its embedded store, `stockade account` manages accounts of a running server. This
// package only parses flags and wires the other packages together.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "stockade",
		Short:         "AWS EC2 security groups, self-hosted: an EC2-compatible API with real enforcement",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serverCmd(), accountCmd(), reachCmd(), labCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "stockade:", err)
		os.Exit(1)
	}
}
