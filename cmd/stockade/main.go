// Command stockade is the one Stockade binary: `stockade server` runs the EC2-compatible API
// with its embedded store, `stockade account` manages accounts of a running server,
// `stockade reach` answers reachability questions, `stockade lab` works with lab
// instances and `stockade image` imports and lists machine images. This package only parses flags and wires the other packages together.
//
// Every subcommand finds the server's data directory the same way: --data-dir, else
// $STOCKADE_DATA_DIR, else $XDG_DATA_HOME/stockade or ~/.local/share/stockade.
//
// Exit status: 0 on success; 1 when `stockade reach` answers NOT REACHABLE; 2 when `stockade
// reach` fails (bad usage, an incomplete snapshot, no server); 1 for an error of any other
// subcommand; `stockade lab exec` exits with its command's status.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/stockade/stockade/datadir"
)

func main() {
	root := &cobra.Command{
		Use:           "stockade",
		Short:         "AWS EC2 security groups, self-hosted: an EC2-compatible API with real enforcement",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serverCmd(), accountCmd(), reachCmd(), labCmd(), imageCmd(), auditCmd(), flowsCmd(), hostsCmd(), agentCmd(), testbedCmd())
	cmd, err := root.ExecuteC()
	os.Exit(exitCode(cmd, err, os.Stderr))
}

// exitCode reports err (if any) and returns the process's exit status for it.
func exitCode(cmd *cobra.Command, err error, stderr *os.File) int {
	var st exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &st):
		return int(st) // the answer is already printed
	}
	fmt.Fprintln(stderr, "stockade:", err)
	if cmd != nil && (cmd.Name() == "reach" || cmd.Name() == "audit") {
		return exitReachError
	}
	return 1
}

// exitStatus ends the process with that status and no message: the command has already
// printed its answer (reach's NOT REACHABLE).
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// Exit statuses of `stockade reach`, as grep's: an answer of no is not a failure of the tool.
const (
	exitNotReachable exitStatus = 1
	exitReachError              = 2
)

// defaultDataDir is the data directory when --data-dir is not given.
func defaultDataDir() string { return datadir.Default() }

// dataDirFlag adds --data-dir to cmd (persistent, so that subcommands inherit it) and points
// dir at it.
func dataDirFlag(cmd *cobra.Command, dir *string, usage string) {
	*dir = defaultDataDir()
	cmd.PersistentFlags().StringVar(dir, "data-dir", *dir, usage+"; $"+datadir.Env+" sets the default")
}

// dataDirCmd is a parent command whose subcommands talk to a running server through its data
// directory (account, lab).
func dataDirCmd(use, short, long string, dir *string) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Long: long}
	dataDirFlag(cmd, dir, "data directory of the running server")
	return cmd
}
