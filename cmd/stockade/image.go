package main

import (
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/image"
)

func imageCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Import and list machine images (AMIs)",
		Long: `Images are what ImageId names in RunInstances. The default image, ` + image.DefaultID + `
(` + image.DefaultName + `), needs no download: a host assembles it from its own read-only /usr and
a generated /etc. Other images are imported into <data-dir>/images from a root-filesystem
tarball or an OCI image layout, and a running server sees them at once.

  stockade image import alpine-3.20 alpine-minirootfs-3.20.0-x86_64.tar.gz
  skopeo copy docker://debian:12 oci:debian12 && stockade image import debian-12 debian12
  stockade image list`,
	}
	dataDirFlag(cmd, &dataDir, "data directory of the server")
	var desc string
	imp := &cobra.Command{
		Use:   "import NAME FILE",
		Short: "Import an image from a root-filesystem tarball or an OCI image layout",
		Long: `Import an image named NAME (3-128 characters: letters, digits and ( ) [ ] space . / - ' @ _;
unique) from FILE: a root-filesystem tarball (tar, tar.gz, tar.bz2), an OCI image layout
directory, or a tar of one (its layers are applied in order, whiteouts included; the
architecture comes from its config).

Every path stays inside the image: names with .. are refused, and symlinks are never followed
out. Only regular files, directories, symlinks and hard links are kept (device nodes and fifos
are skipped and counted), setuid and setgid bits are dropped, and owners are shifted by
200000, the host ids a sandbox's users 0-65535 map to (an owner of 65536 or more is refused).
An import is limited to 16 GiB of files, 1,000,000 entries and 128 layers. Needs root (to
set the shifted owners).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat := image.Open(filepath.Join(dataDir, datadir.Images))
			im, rep, err := cat.Import(args[0], args[1], image.ImportOptions{Description: desc})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s\t%s\t%s\t%d bytes\n", im.ID, im.Name, im.Architecture, im.Size)
			if rep.Skipped > 0 || rep.SetIDCleared > 0 {
				fmt.Fprintf(out, "skipped %d device nodes, fifos or sockets; cleared setuid/setgid on %d files\n", rep.Skipped, rep.SetIDCleared)
			}
			return nil
		},
	}
	imp.Flags().StringVar(&desc, "description", "", "the image's description, as DescribeImages shows it")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the images, the default image first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listImages(cmd.OutOrStdout(), image.Open(filepath.Join(dataDir, datadir.Images)).List())
		},
	}
	cmd.AddCommand(imp, list)
	return cmd
}

func listImages(w io.Writer, ims []image.Image) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tNAME\tARCH\tCREATED\tSIZE\tROOTFS")
	for _, im := range ims {
		root := im.RootFS
		if root == "" {
			root = "(host /usr, generated /etc)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", im.ID, im.Name, im.Architecture, im.Created.Format("2006-01-02T15:04:05Z"), im.Size, root)
	}
	return tw.Flush()
}
