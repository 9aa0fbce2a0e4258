package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// TestRootSurvivesStopStart: what an instance writes to its root filesystem survives a stop
// and a start, a restart of the server while it is stopped, and a reboot, as an EBS root
// volume does on EC2 — on the default image and on an imported one, where a file of the image
// that the instance removed stays removed (a whiteout in the saved layer); /tmp is a tmpfs of
// its own and starts empty. Termination removes the saved layer.
func TestRootSurvivesStopStart(t *testing.T) {
	e := newLabEnv(t)
	ami := e.importTiny()
	vpc, def := e.vpc("10.62.0.0/16")
	sn := e.subnet(vpc, "10.62.1.0/24")
	plain := e.launchWith(&ec2.RunInstancesInput{SubnetId: aws.String(sn), SecurityGroupIds: []string{def}})
	imaged := e.launchWith(&ec2.RunInstancesInput{ImageId: aws.String(ami), SubnetId: aws.String(sn), SecurityGroupIds: []string{def}})
	ids := []string{plain.ID, imaged.ID}
	const write = "echo kept > /root/kept && mkdir -p /var/lib/app && echo state > /var/lib/app/state && " +
		"chmod 0640 /var/lib/app/state && ln -s /var/lib/app/state /root/link && echo gone > /tmp/scratch"
	e.execUntil(plain.ID, write)
	e.execUntil(imaged.ID, write+" && rm /etc/os-release")

	must[*ec2.StopInstancesOutput](t)(e.c.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: ids}))
	e.enforced()
	for _, id := range ids {
		if _, err := os.Stat(layerFile(e, id)); err != nil {
			t.Errorf("a stopped instance's layer was not saved: %v\n%s", err, e.s.stderr.String())
		}
	}
	dataDir := e.s.dataDir
	e.s.stop(t, syscall.SIGTERM) // the server restarts while the instances are stopped
	e.start(dataDir)
	must[*ec2.StartInstancesOutput](t)(e.c.StartInstances(ctx(t), &ec2.StartInstancesInput{InstanceIds: ids}))
	e.enforced()
	const read = "cat /root/kept /var/lib/app/state /root/link; stat -c %a /var/lib/app/state; ls /tmp; test -e /etc/os-release && echo os-release; true"
	if got := e.execUntil(plain.ID, read); got != "kept\nstate\nstate\n640\n" {
		t.Errorf("the default image's root after a stop and a start:\n%q", got)
	}
	if got := e.execUntil(imaged.ID, read); got != "kept\nstate\nstate\n640\n" {
		t.Errorf("the imported image's root after a stop and a start (os-release removed before):\n%q", got)
	}

	e.execUntil(plain.ID, "echo again >> /root/kept")
	must[*ec2.RebootInstancesOutput](t)(e.c.RebootInstances(ctx(t), &ec2.RebootInstancesInput{InstanceIds: []string{plain.ID}}))
	e.enforced()
	e.waitStatus(plain.ID, "ok")
	if got := e.execUntil(plain.ID, "cat /root/kept"); got != "kept\nagain\n" {
		t.Errorf("the root after a reboot: %q", got)
	}

	must[*ec2.TerminateInstancesOutput](t)(e.c.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: ids}))
	e.enforced()
	for _, id := range ids {
		if _, err := os.Stat(layerFile(e, id)); !os.IsNotExist(err) {
			t.Errorf("a terminated instance's layer is still there: %v", err)
		}
	}
}

// layerFile is where the host keeps an instance's saved writable layer.
func layerFile(e *labEnv, id string) string {
	return filepath.Join(e.s.dataDir, "lab", id+".root.tar")
}

// execUntil runs script in the instance with `stockade lab exec` until it succeeds (the
// instance may still be booting), for up to 20 s, and returns its output.
func (e *labEnv) execUntil(id, script string) string {
	e.t.Helper()
	var out string
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if out, err = e.labExec("", id, "sh", "-c", script); err == nil {
			return out
		}
	}
	e.t.Fatalf("in %s: %s: %v\n%s\nserver log:\n%s", id, script, err, out, e.s.stderr.String())
	return ""
}
