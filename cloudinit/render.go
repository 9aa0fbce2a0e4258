package cloudinit

import (
	"fmt"
	"strings"
)

// prelude is the fixed part of every cloud-config script: the helpers the rendered commands
// call. Only these functions touch files; the rendered part only calls them with quoted
// arguments. Failures print a line to the console and make the script exit 1 at the end,
// after the other modules ran, as cloud-init goes on after a failed module. Variables are
// prefixed by their function's initials: sh has no local variables.
const prelude = `umask 022
set -f
status=0
say() { printf '[stockade] %s\n' "$1"; }
fail() { say "$1"; status=1; }

# line FILE TEXT appends the line TEXT to FILE, after a newline if FILE lacks a final one.
line() {
	mkdir -p -- "${1%/*}" || return 1
	if [ -s "$1" ] && [ -n "$(tail -c 1 -- "$1")" ]; then echo >>"$1"; fi
	printf '%s\n' "$2" >>"$1"
}

# pw NAME sets pw_uid, pw_gid and pw_home from NAME's line of /etc/passwd; false without one.
pw() {
	[ -f "$ROOT/etc/passwd" ] || return 1
	while IFS=: read -r pw_n _ pw_u pw_g _ pw_h _ || [ -n "$pw_n" ]; do
		if [ "$pw_n" = "$1" ]; then pw_uid=$pw_u pw_gid=$pw_g pw_home=$pw_h; return 0; fi
	done <"$ROOT/etc/passwd"
	return 1
}

# gr NAME sets gr_gid from NAME's line of /etc/group; false without one.
gr() {
	[ -f "$ROOT/etc/group" ] || return 1
	while IFS=: read -r gr_n _ gr_g _ || [ -n "$gr_n" ]; do
		if [ "$gr_n" = "$1" ]; then gr_gid=$gr_g; return 0; fi
	done <"$ROOT/etc/group"
	return 1
}

# free FILE ID: no line of FILE (passwd or group) has ID as its id.
free() {
	[ -f "$1" ] || return 0
	while IFS=: read -r fr_n _ fr_i _ || [ -n "$fr_n" ]; do
		[ "$fr_i" = "$2" ] && return 1
	done <"$1"
	return 0
}

# next_id MIN prints the first id from MIN free as both a uid and a gid, as useradd picks a
# user's id and its private group's.
next_id() {
	ni_i=$1
	while ! free "$ROOT/etc/passwd" "$ni_i" || ! free "$ROOT/etc/group" "$ni_i"; do ni_i=$((ni_i + 1)); done
	echo "$ni_i"
}

# ids SPEC sets ids to SPEC (user[:group]) in numbers, names looked up in the instance's
# /etc/passwd and /etc/group; false, and the script fails, for an unknown name.
ids() {
	id_u=${1%%:*}
	case $1 in *:*) id_g=${1#*:} ;; *) id_g= ;; esac
	case $id_u in *[!0-9]*) pw "$id_u" || { fail "unknown user $id_u"; return 1; }; id_u=$pw_uid ;; esac
	case $id_g in *[!0-9]*) gr "$id_g" || { fail "unknown group $id_g"; return 1; }; id_g=$gr_gid ;; esac
	ids=$id_u${id_g:+:$id_g}
}

# own IDS PATH... gives PATHs to IDS. A failure is reported, not fatal: a sandbox that maps
# only its root cannot give files away, and the files are still there.
own() {
	ow_o=$1
	shift
	chown -- "$ow_o" "$@" || say "could not give $* to $ow_o"
}

# write_file PATH MODE OWNER APPEND BASE64 writes (APPEND=1: appends) the decoded BASE64 to
# PATH in the instance, creating its directories, then sets its mode and owner.
write_file() {
	wf_p=$ROOT$1
	wf_d=${wf_p%/*}
	mkdir -p -- "${wf_d:-/}" || { fail "write_files: cannot create the directory of $1"; return 1; }
	if [ "$4" = 1 ]; then
		printf '%s' "$5" | base64 -d >>"$wf_p"
	else
		printf '%s' "$5" | base64 -d >"$wf_p"
	fi || { fail "write_files: cannot write $1"; return 1; }
	chmod -- "$2" "$wf_p" || { fail "write_files: cannot set the mode of $1"; return 1; }
	ids "$3" && own "$ids" "$wf_p"
}

# run_script NAME KIND BASE64 writes a script to /var/lib/cloud/instance/scripts/NAME, where
# cloud-init keeps them, and runs it: with /bin/sh (KIND sh) or as is (exec, "#!").
run_script() {
	rs_p=/var/lib/cloud/instance/scripts/$1
	write_file "$rs_p" 0700 0:0 0 "$3" || return 1
	if [ "$2" = exec ]; then "$ROOT$rs_p"; else /bin/sh "$ROOT$rs_p"; fi
	rs_s=$?
	[ "$rs_s" = 0 ] || fail "$1 exited with status $rs_s"
}

# add_group NAME [GID] creates the group NAME unless it exists.
add_group() {
	gr "$1" && return 0
	ag_g=$2
	[ -n "$ag_g" ] || ag_g=$(next_id 1001)
	line "$ROOT/etc/group" "$1:x:$ag_g:" || { fail "cannot create group $1"; return 1; }
}

# add_member GROUP USER adds USER to GROUP's members unless there.
add_member() {
	am_f=$ROOT/etc/group
	while IFS= read -r am_l || [ -n "$am_l" ]; do
		case $am_l in
		"$1":*)
			case $am_l in
			*:) am_l=$am_l$2 ;;
			*) case ",${am_l##*:}," in *",$2,"*) ;; *) am_l=$am_l,$2 ;; esac ;;
			esac
			;;
		esac
		printf '%s\n' "$am_l"
	done <"$am_f" >"$am_f.stockade" && mv -f -- "$am_f.stockade" "$am_f" || fail "cannot add $2 to group $1"
}

# add_user NAME UID GECOS HOME SHELL PRIMARY GROUPS CREATE_HOME QUIET creates a user as
# useradd would: uid UID or the first free from 1001, a private group unless PRIMARY names
# one, the supplementary GROUPS (created if needed), no usable password, and a home (0700)
# when CREATE_HOME is 1. An existing user is left alone (QUIET=1: without a word).
add_user() {
	if pw "$1"; then
		[ "$9" = 1 ] || say "user $1 already exists: not creating it"
		return 0
	fi
	au_u=$2
	if [ -z "$au_u" ]; then
		au_u=$(next_id 1001)
	elif ! free "$ROOT/etc/passwd" "$au_u"; then
		fail "cannot create user $1: uid $au_u is taken"
		return 1
	fi
	if [ -n "$6" ]; then
		add_group "$6" && gr "$6" || return 1
		au_g=$gr_gid
	elif gr "$1"; then
		au_g=$gr_gid
	else
		au_g=$au_u
		free "$ROOT/etc/group" "$au_g" || au_g=$(next_id 1001)
		add_group "$1" "$au_g" || return 1
	fi
	line "$ROOT/etc/passwd" "$1:x:$au_u:$au_g:$3:$4:$5" || { fail "cannot create user $1"; return 1; }
	if [ -f "$ROOT/etc/shadow" ]; then
		line "$ROOT/etc/shadow" "$1:*:$(($(date +%s) / 86400)):0:99999:7:::" || fail "cannot write $1's shadow entry"
	fi
	for au_x in $7; do
		add_group "$au_x" && add_member "$au_x" "$1"
	done
	if [ "$8" = 1 ]; then
		mkdir -p -- "$ROOT$4" && chmod 0700 -- "$ROOT$4" || { fail "cannot create $1's home $4"; return 1; }
		own "$au_u:$au_g" "$ROOT$4"
	fi
}

# add_keys USER KEY... appends KEYs to USER's ~/.ssh/authorized_keys (.ssh 0700, the file
# 0600, both the user's), as cloud-init's ssh module does.
add_keys() {
	ak_u=$1
	shift
	pw "$ak_u" || { fail "user $ak_u does not exist: its ssh_authorized_keys are not written"; return 1; }
	ak_d=$ROOT$pw_home/.ssh
	mkdir -p -- "$ak_d" && chmod 0700 -- "$ak_d" || { fail "cannot create $pw_home/.ssh"; return 1; }
	for ak_k do
		line "$ak_d/authorized_keys" "$ak_k" || fail "cannot write $pw_home/.ssh/authorized_keys"
	done
	chmod 0600 -- "$ak_d/authorized_keys"
	own "$pw_uid:$pw_gid" "$ak_d" "$ak_d/authorized_keys"
}

# sudo_rule USER RULE records RULE for USER in /etc/sudoers.d, as cloud-init does (0440).
sudo_rule() {
	sr_f=$ROOT/etc/sudoers.d/90-cloud-init-users
	if [ -e "$sr_f" ]; then
		chmod 0640 -- "$sr_f"
	else
		line "$sr_f" "# Created by stockade's cloud-init from the instance's user data" || { fail "cannot write $sr_f"; return 1; }
	fi
	line "$sr_f" "$1 $2" || fail "cannot write $sr_f"
	chmod 0440 -- "$sr_f"
}

# hosts_entry LINE makes LINE /etc/hosts' only 127.0.1.1 entry (manage_etc_hosts: localhost).
hosts_entry() {
	he_f=$ROOT/etc/hosts
	if [ -f "$he_f" ]; then
		while IFS= read -r he_l || [ -n "$he_l" ]; do
			case $he_l in "127.0.1.1 "* | "127.0.1.1	"*) ;; *) printf '%s\n' "$he_l" ;; esac
		done <"$he_f" >"$he_f.stockade" && mv -f -- "$he_f.stockade" "$he_f"
	fi
	line "$he_f" "$1" || fail "cannot write /etc/hosts"
}
`

// part is a MIME text/x-shellscript part, run after runcmd.
type part struct {
	Kind   Kind // Shell or Exec
	Script []byte
}

// render makes the script of a parsed cloud-config and the shell parts of its MIME message.
func render(c config, parts []part, in Instance) Plan {
	if len(c.Errors) > 0 {
		var w writer
		w.raw("#!/bin/sh\n# The instance's cloud-config is invalid: nothing is applied.\n")
		for _, e := range c.Errors {
			w.cmd("printf", "[stockade] %s\\n", e)
		}
		w.raw("exit 1\n")
		return Plan{Kind: Shell, Script: w.bytes()}
	}
	var w writer
	w.raw("#!/bin/sh\n# Generated by stockade from the instance's cloud-config: cloud-init's modules in\n" +
		"# cloud-init's order. Every value from the user data is single-quoted.\n")
	w.cmd("ROOT=" + mustQuote(&w, in.Root))
	w.cmd("INSTANCE_ID=" + mustQuote(&w, in.ID))
	w.raw("export INSTANCE_ID\n")
	w.raw(prelude)
	if len(c.Ignored) > 0 {
		w.cmd("say", "cloud-config keys not supported in a lab instance, ignored: "+strings.Join(c.Ignored, ", "))
	}
	if len(c.Bootcmd) > 0 {
		w.raw("\n# bootcmd (every boot on EC2; a lab instance boots once)\n")
		w.cmd("run_script", "bootcmd", "sh", b64(commandScript(&w, c.Bootcmd)))
	}
	writeFiles(&w, c.Files, false)
	hostFiles(&w, c, in)
	usersAndGroups(&w, c, in)
	if len(c.Keys) > 0 {
		w.raw("\n# ssh_authorized_keys: the default user's\n")
		w.cmd("add_keys", append([]string{in.DefaultUser}, c.Keys...)...)
	}
	if len(c.Packages) > 0 {
		w.raw("\n")
		w.cmd("say", "cloud-config packages are not installed in a lab instance: "+strings.Join(c.Packages, " "))
	}
	if c.PackageUpdate {
		w.cmd("say", "cloud-config package_update and package_upgrade are not run in a lab instance")
	}
	writeFiles(&w, c.Files, true)
	if len(c.Runcmd) > 0 {
		w.raw("\n# runcmd\n")
		w.cmd("run_script", "runcmd", "sh", b64(commandScript(&w, c.Runcmd)))
	}
	for i, p := range parts {
		kind := "sh"
		if p.Kind == Exec {
			kind = "exec"
		}
		w.cmd("run_script", fmt.Sprintf("part-%03d", i+1), kind, b64(p.Script))
	}
	w.raw("exit $status\n")
	if w.err != nil {
		return failing("cloud-config: " + w.err.Error())
	}
	return Plan{Kind: Shell, Script: w.bytes()}
}

func mustQuote(w *writer, s string) string {
	q, err := quote(s)
	if err != nil && w.err == nil {
		w.err = err
	}
	return q
}

// commandScript is bootcmd's or runcmd's script as cloud-init writes it: a string item is a
// line, a list item its words quoted.
func commandScript(w *writer, cmds []command) []byte {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	for _, c := range cmds {
		if c.Argv == nil {
			b.WriteString(c.Line)
		} else {
			for i, a := range c.Argv {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(mustQuote(w, a))
			}
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func writeFiles(w *writer, files []file, deferred bool) {
	first := true
	for _, f := range files {
		if f.Defer != deferred {
			continue
		}
		if first {
			if deferred {
				w.raw("\n# write_files with defer: after the users\n")
			} else {
				w.raw("\n# write_files\n")
			}
			first = false
		}
		app := "0"
		if f.Append {
			app = "1"
		}
		w.cmd("write_file", f.Path, fmt.Sprintf("%04o", f.Mode), f.Owner, app, b64(f.Content))
	}
}

// hostFiles writes /etc/hostname and /etc/hosts as cloud-init's set_hostname and
// update_etc_hosts do. The UTS name stays EC2's: the sandbox cannot rename itself.
func hostFiles(w *writer, c config, in Instance) {
	host, fqdn := c.Hostname, c.FQDN
	if host == "" && fqdn != "" {
		host, _, _ = strings.Cut(fqdn, ".")
	}
	if host != "" {
		w.raw("\n# hostname and fqdn: /etc/hostname (the instance's UTS name stays EC2's)\n")
		w.cmd("write_file", "/etc/hostname", "0644", "0:0", "0", b64([]byte(host+"\n")))
	}
	if c.EtcHosts == "" {
		return
	}
	if host == "" {
		host = in.Hostname
	}
	if fqdn == "" {
		fqdn = host
	}
	entry := "127.0.1.1 " + fqdn
	if fqdn != host {
		entry += " " + host
	}
	w.raw("\n# manage_etc_hosts: " + c.EtcHosts + "\n")
	if c.EtcHosts == "localhost" {
		w.cmd("hosts_entry", entry)
		return
	}
	hosts := entry + "\n127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
	w.cmd("write_file", "/etc/hosts", "0644", "0:0", "0", b64([]byte(hosts)))
}

// usersAndGroups is cloud-init's users_groups module: groups, then users. Without a users key
// the default user is created (it exists in the default image, so nothing happens there).
func usersAndGroups(w *writer, c config, in Instance) {
	users := c.Users
	if !c.UsersGiven {
		users = []user{{Default: true}}
	}
	if len(c.Groups) > 0 || len(users) > 0 {
		w.raw("\n# groups and users\n")
	}
	for _, g := range c.Groups {
		w.cmd("add_group", g.Name)
		for _, m := range g.Members {
			w.cmd("add_member", g.Name, m)
		}
	}
	for _, u := range users {
		if u.Default {
			d := in.DefaultUser
			w.cmd("add_user", d, "", "EC2 Default User", "/home/"+d, "/bin/sh", "", "", "1", "1")
			continue
		}
		create := "1"
		if u.NoCreateHome {
			create = "0"
		}
		w.cmd("add_user", u.Name, u.UID, u.Gecos, u.Home, u.Shell, u.PrimaryGroup, strings.Join(u.Groups, " "), create, "0")
		for _, r := range u.Sudo {
			w.cmd("sudo_rule", u.Name, r)
		}
		if len(u.Keys) > 0 {
			w.cmd("add_keys", append([]string{u.Name}, u.Keys...)...)
		}
	}
}
