package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stockade/stockade/adminapi"
	"github.com/stockade/stockade/auth"
)

func accountCmd() *cobra.Command {
	var dataDir string
	cmd := dataDirCmd("account", "Manage the accounts of a running server (through its admin socket)", "", &dataDir)
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Add an account and print its credentials (shared-credentials format, profile NAME)",
		Long: `Add an account with its own 12-digit account ID and access key, and print its
credentials in the AWS shared-credentials format. The secret is shown only here; append it to
the credentials file the AWS CLI reads ($AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials),
e.g.:

  stockade account create alice >> "${AWS_SHARED_CREDENTIALS_FILE:-$HOME/.aws/credentials}"
  aws --profile alice --endpoint-url http://127.0.0.1:8787 ec2 describe-vpcs`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := adminapi.Dial(dataDir).CreateAccount(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), auth.CredentialsFile(a.Name, a))
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts (without secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			as, err := adminapi.Dial(dataDir).ListAccounts(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ACCOUNT\tNAME\tACCESS KEY\tADMIN\tCREATED")
			for _, a := range as {
				fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\n", a.ID, a.Name, a.AccessKeyID, a.Admin, a.Created.Format("2006-01-02 15:04:05Z"))
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}
