package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the shell block of the README that follows the marker comment naming
// test.
func readmeBlock(t *testing.T, test string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "<!-- e2e: "+test+" runs this block -->")
	if !ok {
		t.Fatalf("README has no block for %s", test)
	}
	_, rest, _ = strings.Cut(rest, "```sh\n")
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README block not closed")
	}
	return block
}

// TestReadmeFlowLogs runs the README's flow-log section, as written, on a lab server: after a
// preamble that builds what the README's lab section leaves in the shell (the three tiers'
// groups and rules, the app and database instances serving, and its ec2, stockade, addr and
// probe functions). The only change is the endpoint: the test's server, not 127.0.0.1:8787.
func TestReadmeFlowLogs(t *testing.T) {
	needCLI(t)
	e := newLabEnv(t, "--flow-log-window", "3s")
	work := t.TempDir()
	preamble := `set -e
ec2() { aws --endpoint-url http://127.0.0.1:8787 ec2 "$@"; }
stockade() { ` + binary + ` "$@"; }
VPC=$(ec2 create-vpc --cidr-block 10.62.0.0/16 --query Vpc.VpcId --output text)
PRIVATE=$(ec2 create-subnet --vpc-id $VPC --cidr-block 10.62.2.0/24 --query Subnet.SubnetId --output text)
WEB=$(ec2 create-security-group --vpc-id $VPC --group-name web --description web --query GroupId --output text)
APP=$(ec2 create-security-group --vpc-id $VPC --group-name app --description app --query GroupId --output text)
DB=$(ec2 create-security-group --vpc-id $VPC --group-name db --description db --query GroupId --output text)
ec2 authorize-security-group-ingress --group-id $APP --protocol tcp --port 8080 --source-group $WEB >/dev/null
ec2 authorize-security-group-ingress --group-id $DB --protocol tcp --port 5432 --source-group $APP >/dev/null
ec2 authorize-security-group-ingress --group-id $DB --protocol tcp --port 5432 --source-group $WEB >/dev/null
ec2 authorize-security-group-ingress --group-id $WEB --protocol tcp --port 22 --cidr 100.64.0.2/32 >/dev/null
launch() { ec2 run-instances --image-id ami-0defa017000000001 --instance-type t3.micro --subnet-id $1 \
             --security-group-ids $2 --user-data "$3" "${@:4}" --query 'Instances[0].InstanceId' --output text; }
A=$(launch $PRIVATE $APP '#!/bin/sh
python3 -m http.server 8080 >/dev/null 2>&1 &')
D=$(launch $PRIVATE $DB '#!/bin/sh
python3 -m http.server 5432 >/dev/null 2>&1 &')
addr() { ec2 describe-instances --instance-ids $1 --query 'Reservations[0].Instances[0].PrivateIpAddress' --output text; }
probe() { stockade lab exec $1 -- curl -s -m 2 -o /dev/null -w "%{http_code}\n" http://$(addr $2):$3/; }
curl -s 'http://127.0.0.1:8787/enforced?revision=latest' >/dev/null
# The servers of the user data are up when the app answers the database's own probe port.
for i in $(seq 60); do [ "$(stockade lab exec $A -- curl -s -m 1 -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/)" = 200 ] && break; sleep 0.5; done
for i in $(seq 60); do [ "$(stockade lab exec $D -- curl -s -m 1 -o /dev/null -w '%{http_code}' http://127.0.0.1:5432/)" = 200 ] && break; sleep 0.5; done
echo "A=$(addr $A) D=$(addr $D)"
set +e # as in an interactive shell: a probe that times out (curl's status 28) is an answer
`
	script := strings.ReplaceAll(preamble+readmeBlock(t, "TestReadmeFlowLogs"), "http://127.0.0.1:8787", e.s.endpoint)
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, "bash", "-c", script)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(e.s.dataDir, "credentials"), "AWS_DEFAULT_REGION=us-east-1",
		"AWS_PAGER=", "AWS_CONFIG_FILE=/dev/null", "AWS_PROFILE=default", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=",
		"STOCKADE_DATA_DIR="+e.s.dataDir)
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("README block: %v\n%s\nserver:\n%s", err, out, e.s.stderr.String())
	}
	m := regexp.MustCompile(`A=(\S+) D=(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no addresses:\n%s", out)
	}
	a, d := m[1], m[2]
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^200$`), // app reaches the database
		regexp.MustCompile(`(?m)^000$`), // the database does not reach the app
		regexp.MustCompile(`AWSLogs/\d{12}/vpcflowlogs/us-east-1/\d{4}/\d\d/\d\d/\S+\.log\.gz`),                                                   // s3 ls
		regexp.MustCompile(`(?m)^version interface-id flow-direction srcaddr dstaddr`),                                                            // the header, zcat
		regexp.MustCompile(`(?m)^\d+ eni-\S+ ingress ` + regexp.QuoteMeta(a) + ` ` + regexp.QuoteMeta(d) + ` \d+ 5432 6 .* ACCEPT [23] OK$`),      // the opening SYN
		regexp.MustCompile(`(?m)^2 \d{12} eni-\S+ ` + regexp.QuoteMeta(d) + ` ` + regexp.QuoteMeta(a) + ` \d+ 8080 6 \d+ \d+ \d+ \d+ REJECT OK$`), // filter-log-events
		regexp.MustCompile(`sg-\S+\s+sgr-\S+\s+ingress\s+used\s+1\s.*tcp 5432 from sg-`),                                                          // rules: db's from app
		regexp.MustCompile(`sg-\S+\s+sgr-\S+\s+ingress\s+unused\s+0\s.*tcp 8080 from sg-`),                                                        // rules: app's from web
		regexp.MustCompile(`sg-\S+\s+sgr-\S+\s+ingress\s+unknown\s+0\s.*tcp 22 from 100.64.0.2/32`),                                               // web has no interface
		regexp.MustCompile(`tcp/8080\s+` + regexp.QuoteMeta(d) + `\s+eni-`),                                                                       // rejected
		regexp.MustCompile(regexp.QuoteMeta(a) + `:\d+\s+` + regexp.QuoteMeta(d) + `:5432\s+6\s.*destination security groups \(ingress\)`),        // impact
		regexp.MustCompile(`MON-005 sg-\S+ in vpc-\S+: Rule never used`),                                                                          // audit
		regexp.MustCompile(`aws ec2 revoke-security-group-ingress --group-id sg-\S+ --security-group-rule-ids sgr-`),
	} {
		if !want.MatchString(out) {
			t.Errorf("README block's output has no match for %s", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
