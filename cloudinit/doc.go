// Package cloudinit turns an instance's user data into what its sandbox runs, once, at first
// boot, as root inside the instance — the part of cloud-init a lab instance needs.
//
// Script reads the user data the way cloud-init does: gzip-compressed data (magic 1f 8b) is
// decompressed first, to at most MaxDecompressed bytes; then
//
//   - "#!…" is a script that names its interpreter: the caller runs it as is (Exec);
//   - "#cloud-config" is YAML, rendered to one POSIX sh script that applies cloud-init's
//     modules in cloud-init's order (below);
//   - a MIME multi-part message (Content-Type: multipart/mixed, as `cloud-init devel
//     make-mime` makes) has its text/cloud-config parts merged (a later part's keys replace
//     an earlier one's, cloud-init's default merge) and its text/x-shellscript parts run in
//     order after runcmd's, as cloud-init's scripts_user runs them;
//   - other cloud-init formats (#include, #cloud-config-archive, #part-handler,
//     #upstart-job, jinja templates) print that they are not supported and fail;
//   - anything else is run by /bin/sh, as EC2 instances without cloud-init did.
//
// The #cloud-config order is cloud-init's module order (config/cloud.cfg.tmpl): bootcmd,
// write_files, hostname/fqdn/manage_etc_hosts, groups and users, ssh_authorized_keys,
// packages, write_files with defer, runcmd. bootcmd runs at every boot on EC2; a lab instance
// boots once, so it runs once. runcmd keeps cloud-init's semantics: its items become one sh
// script (a string item is a line of it, so `cd` carries to the next item; a list item is an
// argv, each word quoted), written to /var/lib/cloud/instance/scripts/runcmd and run by
// /bin/sh. packages and package_update/upgrade are not run: a lab instance has no package
// manager of its own (its /usr is the host's, read-only), and the console says so. hostname
// writes /etc/hostname only: the sandbox names the UTS namespace as EC2 does and keeps no
// capability to rename it. Keys this package does not implement are listed on the console as
// ignored, never an error.
//
// Every value from the user data reaches the script single-quoted by quote (which refuses
// NUL, the one byte sh cannot carry), and file contents as base64, so no user data is ever
// parsed by the shell that applies it. A #cloud-config that is not valid YAML, or whose
// values are invalid (a uid of 65536 or more, a relative path, an unknown encoding), gives a
// script that prints every problem to the console, changes nothing and exits 1: a tenant's
// mistake fails its boot script, as on EC2, not the launch.
package cloudinit
