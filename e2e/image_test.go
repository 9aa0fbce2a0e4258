package e2e

import (
	"archive/tar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// tinyImage writes a root-filesystem tarball with a few of the host's programs (and the
// libraries ldd says they need) and an /etc/os-release of its own: an image that is not the
// host's /usr.
func tinyImage(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	seen := map[string]bool{}
	add := func(name string, mode int64, data []byte) {
		if seen[name] {
			return
		}
		seen[name] = true
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"usr/", "usr/bin/", "usr/sbin/", "usr/lib/", "usr/lib64/", "etc/", "tmp/", "var/", "root/", "home/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range [][2]string{{"bin", "usr/bin"}, {"sbin", "usr/sbin"}, {"lib", "usr/lib"}, {"lib64", "usr/lib64"}} {
		if err := tw.WriteHeader(&tar.Header{Name: l[0], Linkname: l[1], Typeflag: tar.TypeSymlink, Mode: 0o777}); err != nil {
			t.Fatal(err)
		}
	}
	for _, prog := range []string{"sh", "cat", "date", "grep", "chown", "sleep", "id", "ls", "test", "mkdir", "rm", "chmod", "ln", "stat"} {
		bin, err := exec.LookPath(prog)
		if err != nil {
			t.Skipf("no %s on this host", prog)
		}
		real, _ := filepath.EvalSymlinks(bin)
		data, err := os.ReadFile(real)
		if err != nil {
			t.Fatal(err)
		}
		add("usr/bin/"+prog, 0o755, data)
		out, _ := exec.Command("ldd", real).Output()
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			lib := ""
			switch {
			case len(f) >= 3 && f[1] == "=>":
				lib = f[2]
			case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
				lib = f[0]
			}
			if lib == "" {
				continue
			}
			real, err := filepath.EvalSymlinks(lib)
			if err != nil {
				continue
			}
			data, err := os.ReadFile(real)
			if err != nil {
				t.Fatal(err)
			}
			// Under usr/: the image's /lib and /lib64 lead there, as on a merged-/usr system.
			name := strings.TrimPrefix(strings.TrimPrefix(lib, "/usr"), "/")
			if err := tw.WriteHeader(&tar.Header{Name: "usr/" + filepath.Dir(name) + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
				t.Fatal(err)
			}
			add("usr/"+name, 0o755, data)
		}
	}
	add("etc/os-release", 0o644, []byte("NAME=\"Tiny Linux\"\nID=tiny\n"))
	add("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	add("etc/group", 0o644, []byte("root:x:0:\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// importTiny imports tinyImage as "tiny" with `stockade image import`, finds it with
// DescribeImages, and returns its ID.
func (e *labEnv) importTiny() string {
	e.t.Helper()
	t := e.t
	out, err := exec.Command(binary, "image", "--data-dir", e.s.dataDir, "import", "tiny", tinyImage(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("image import: %v\n%s", err, out)
	}
	imgs := must[*ec2.DescribeImagesOutput](t)(e.c.DescribeImages(ctx(t), &ec2.DescribeImagesInput{
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"tiny"}}}}))
	if len(imgs.Images) != 1 {
		t.Fatalf("DescribeImages name=tiny: %d images", len(imgs.Images))
	}
	return aws.ToString(imgs.Images[0].ImageId)
}

// TestImportedImage imports a root-filesystem tarball with `stockade image import`, finds it
// with DescribeImages, and launches an instance from it: the instance runs on the image's
// files (its os-release, none of the host's /usr), its user data runs there, its root
// filesystem is writable, and its default user was added.
func TestImportedImage(t *testing.T) {
	e := newLabEnv(t)
	ami := e.importTiny()
	vpc, def := e.vpc("10.43.0.0/16")
	sn := e.subnet(vpc, "10.43.1.0/24")
	in := e.launchWith(&ec2.RunInstancesInput{ImageId: aws.String(ami), SubnetId: aws.String(sn), SecurityGroupIds: []string{def},
		UserData: aws.String(b64("#!/bin/sh\necho \"os $(grep ^ID= /etc/os-release)\"\necho written > /etc/motd && echo \"motd $(cat /etc/motd)\"\n"))})
	console := e.consoleUntil(in.ID, "user data finished")
	for _, want := range []string{"os ID=tiny", "motd written", "user data finished with status 0"} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
	got, err := e.labExec("", in.ID, "sh", "-c", "grep -c ^ec2-user: /etc/passwd; test -e /usr/bin/python3 && echo host-usr || echo own-usr")
	if err != nil || got != "1\nown-usr\n" {
		t.Errorf("inside the instance: %v\n%q", err, got)
	}
	lab := must[*ec2.DescribeInstancesOutput](t)(e.c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{in.ID}}))
	if id := aws.ToString(lab.Reservations[0].Instances[0].ImageId); id != ami {
		t.Errorf("DescribeInstances imageId %s, want %s", id, ami)
	}
}
