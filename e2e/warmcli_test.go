package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// warmPython and warmScript are the interpreter and the script of the warm AWS CLI, when it
// runs.
var warmPython, warmScript string

// warmAWSCLI puts a warm AWS CLI (testdata/awscli_warm.py) first on the PATH of the tests and
// of every process they start, when the installed CLI is a Python program this can load: a
// call then takes about a fifth of a cold one's time. It returns a function that stops the
// server, and leaves the installed CLI in place (saying why) when it cannot start one, or
// when STOCKADE_E2E_AWSCLI=cold asks for the installed CLI itself.
func warmAWSCLI(dir string) (stop func()) {
	if os.Getenv("STOCKADE_E2E_AWSCLI") == "cold" {
		return func() {}
	}
	stop, err := startWarmAWSCLI(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: the AWS CLI runs cold: %v\n", err)
		return func() {}
	}
	return stop
}

// startWarmAWSCLI starts the warm CLI's server and puts its client on the PATH; on an error
// nothing is left running.
func startWarmAWSCLI(dir string) (stop func(), err error) {
	python, aws, err := awsCLIPython()
	if err != nil {
		return nil, err
	}
	script, err := filepath.Abs("testdata/awscli_warm.py")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "awscli.sock")
	cmd := exec.Command(python, script, "serve", sock)
	// No Pdeathsig: Linux sends it when the thread that started the child exits, and a Go
	// thread exits under any goroutine that ends locked to it (the namespace code does). The
	// server watches its parent instead and stops within a second of it.
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		return nil, err
	}
	stop = func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("said %q", line)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(60 * time.Second):
		err = fmt.Errorf("not ready after 60 s")
	}
	bin := filepath.Join(dir, "awscli-warm")
	if err == nil {
		err = os.MkdirAll(bin, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(bin, "aws"), []byte(warmWrapper(python, script, sock, aws)), 0o755)
	}
	if err != nil {
		stop()
		return nil, fmt.Errorf("the warm server: %w", err)
	}
	os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	warmPython, warmScript = python, script
	return stop, nil
}

// warmWrapper is the `aws` the tests run: the warm CLI's client (Python without its site
// packages starts in milliseconds), with sock its server and aws the installed CLI to run
// when no server answers.
func warmWrapper(python, script, sock, aws string) string {
	return fmt.Sprintf("#!/bin/sh\nexec %q -I -S %q call %q %q \"$@\"\n", python, script, sock, aws)
}

// awsCLIPython finds the installed AWS CLI and its Python interpreter: the one its script's
// first line names, after pyenv's shim (a shell script) has been followed to the script it runs.
func awsCLIPython() (python, aws string, err error) {
	path, err := exec.LookPath("aws")
	if err != nil {
		return "", "", err
	}
	if path, err = filepath.Abs(path); err != nil {
		return "", "", err
	}
	python, err = shebangPython(path)
	if err != nil && filepath.Base(filepath.Dir(path)) == "shims" {
		var real []byte
		if real, err = exec.Command("pyenv", "which", "aws").Output(); err == nil {
			python, err = shebangPython(strings.TrimSpace(string(real)))
		}
	}
	if err != nil {
		return "", "", err
	}
	// The CLI must be importable, and socket.send_fds (Python 3.9) there.
	if out, err := exec.Command(python, "-c", "import awscli.clidriver, socket; socket.send_fds").CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("%s cannot run the AWS CLI in-process: %v %s", python, err, bytes.TrimSpace(out))
	}
	return python, path, nil
}

// shebangPython returns the interpreter a script's "#!" line names when it is a Python.
func shebangPython(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if !strings.HasPrefix(line, "#!") || len(fields) == 0 {
		return "", fmt.Errorf("%s is not a script", path)
	}
	python := fields[0]
	if filepath.Base(python) == "env" && len(fields) > 1 {
		if python, err = exec.LookPath(fields[1]); err != nil {
			return "", err
		}
	}
	if !strings.HasPrefix(filepath.Base(python), "python") {
		return "", fmt.Errorf("%s runs %s, not Python", path, python)
	}
	return python, nil
}

// TestWarmCLIMatchesCold runs the same calls through the warm AWS CLI the tests use and
// through the installed one: the same output, errors and exit status, for a success, an EC2
// error, a usage error, input read from standard input and a file named relative to the
// working directory.
func TestWarmCLIMatchesCold(t *testing.T) {
	needCLI(t)
	warm, err := exec.LookPath("aws")
	if err != nil || filepath.Base(filepath.Dir(warm)) != "awscli-warm" {
		t.Skipf("the AWS CLI runs cold here (%s), so there is nothing to compare", warm)
	}
	var coldAWS string // the installed CLI: the first aws on the PATH after the warm one's
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if p := filepath.Join(d, "aws"); d != filepath.Dir(warm) && coldAWS == "" && isExecutable(p) {
			coldAWS = p
		}
	}
	if coldAWS == "" {
		t.Fatal("no AWS CLI on the PATH after the warm one")
	}
	s := startServer(t, "")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tags.json"), []byte(`[{"Key":"team","Value":"web"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(s.dataDir, "credentials"), "AWS_PROFILE=default",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_PAGER="}
	run := func(aws, stdin string, args ...string) (string, string, int) {
		cmd := exec.Command(aws, append([]string{"--endpoint-url", s.endpoint, "--output", "json"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	var vpc struct{ Vpc struct{ VpcId string } }
	out, errOut, code := run(warm, "", "ec2", "create-vpc", "--cidr-block", "10.9.0.0/16")
	if code != 0 {
		t.Fatalf("create-vpc: %d %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &vpc); err != nil {
		t.Fatal(err)
	}
	id := vpc.Vpc.VpcId
	for _, c := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"success", "", []string{"ec2", "describe-vpcs", "--vpc-ids", id}},
		{"an EC2 error", "", []string{"ec2", "describe-vpcs", "--vpc-ids", "vpc-0000000000000000f"}},
		{"a usage error", "", []string{"ec2", "describe-vpcs", "--no-such-option"}},
		{"standard input", `{"VpcIds":["` + id + `"]}`, []string{"ec2", "describe-vpcs", "--cli-input-json", "file:///dev/stdin"}},
		{"a relative file", "", []string{"ec2", "create-tags", "--resources", id, "--tags", "file://tags.json"}},
		{"the version", "", []string{"--version"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			wo, we, wc := run(warm, c.stdin, c.args...)
			co, ce, cc := run(coldAWS, c.stdin, c.args...)
			if wo != co || we != ce || wc != cc {
				t.Fatalf("warm: %d\n%s\n%s\ncold: %d\n%s\n%s", wc, wo, we, cc, co, ce)
			}
		})
	}
	// With no server on its socket, the warm CLI's client runs the installed CLI.
	gone := filepath.Join(dir, "aws-gone")
	wrapper := warmWrapper(warmPython, warmScript, filepath.Join(dir, "no.sock"), coldAWS)
	if err := os.WriteFile(gone, []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(gone, "", "ec2", "describe-vpcs", "--vpc-ids", id); code != 0 || !strings.Contains(out, id) {
		t.Fatalf("no server: %d\n%s\n%s", code, out, errOut)
	}
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
