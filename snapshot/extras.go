package snapshot

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stockade/stockade/model"
)

// ExtraFiles are files a snapshot directory may hold beside Files, for the auditor: each is
// optional, and a missing one means "not known" (the checks that need it are skipped), never
// "none". describe-launch-template-versions with $Latest and $Default and no template names
// every template's latest and default versions (EC2 DescribeLaunchTemplateVersions, Versions).
var ExtraFiles = []struct{ Name, Command string }{
	{"describe-flow-logs.json", "aws ec2 describe-flow-logs"},
	{"describe-launch-templates.json", "aws ec2 describe-launch-templates"},
	{"describe-launch-template-versions.json", "aws ec2 describe-launch-template-versions --versions '$Latest' '$Default'"},
	{"list-rules.json", "aws events list-rules"},
}

// Extras is what the extra files hold; a nil field is a file that is not there.
type Extras struct {
	FlowLogs               []*model.FlowLog
	LaunchTemplates        []*model.LaunchTemplate
	LaunchTemplateVersions []*model.LaunchTemplateVersion
	// AlertPatterns are the event patterns of the EventBridge rules that are enabled
	// (ENABLED, or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS); scheduled rules have none.
	AlertPatterns []json.RawMessage
}

// LoadExtras reads the extra files of a snapshot directory that are there, with Load's rules
// for what is in them (a missing field is an error naming the file and its JSON path).
func LoadExtras(dir string) (Extras, error) {
	l := &loader{dir: dir}
	var x Extras
	if doc, ok := l.optional(ExtraFiles[0].Name, ExtraFiles[0].Command); ok {
		x.FlowLogs = []*model.FlowLog{}
		for _, f := range l.list(doc, "FlowLogs", true) {
			fl := &model.FlowLog{ID: l.str(f, "FlowLogId"), ResourceID: l.str(f, "ResourceId"), TrafficType: l.str(f, "TrafficType"), Tags: l.tags(f)}
			fl.DestType, _ = l.optStr(f, "LogDestinationType")
			fl.Destination, _ = l.optStr(f, "LogDestination")
			fl.LogGroupName, _ = l.optStr(f, "LogGroupName")
			fl.Format, _ = l.optStr(f, "LogFormat")
			switch { // describe-flow-logs does not say; the ID's prefix does
			case strings.HasPrefix(fl.ResourceID, "vpc-"):
				fl.ResourceType = "VPC"
			case strings.HasPrefix(fl.ResourceID, "subnet-"):
				fl.ResourceType = "Subnet"
			case strings.HasPrefix(fl.ResourceID, "eni-"):
				fl.ResourceType = "NetworkInterface"
			}
			x.FlowLogs = append(x.FlowLogs, fl)
		}
	}
	if doc, ok := l.optional(ExtraFiles[1].Name, ExtraFiles[1].Command); ok {
		x.LaunchTemplates = []*model.LaunchTemplate{}
		for _, t := range l.list(doc, "LaunchTemplates", true) {
			x.LaunchTemplates = append(x.LaunchTemplates, &model.LaunchTemplate{ID: l.str(t, "LaunchTemplateId"), Name: l.str(t, "LaunchTemplateName"),
				DefaultVersion: int(l.integer(t, "DefaultVersionNumber", 1, 1<<31)), LatestVersion: int(l.integer(t, "LatestVersionNumber", 1, 1<<31)), Tags: l.tags(t)})
		}
	}
	if doc, ok := l.optional(ExtraFiles[2].Name, ExtraFiles[2].Command); ok {
		x.LaunchTemplateVersions = []*model.LaunchTemplateVersion{}
		for _, v := range l.list(doc, "LaunchTemplateVersions", true) {
			m := &model.LaunchTemplateVersion{TemplateID: l.str(v, "LaunchTemplateId"), Number: int(l.integer(v, "VersionNumber", 1, 1<<31))}
			d := l.object(v, "LaunchTemplateData", true)
			m.Data.GroupIDs = l.strings(d, "SecurityGroupIds")
			m.Data.GroupNames = l.strings(d, "SecurityGroups")
			for _, ni := range l.list(d, "NetworkInterfaces", false) {
				m.Data.Interfaces = append(m.Data.Interfaces, model.LaunchTemplateENI{Groups: l.strings(ni, "Groups")})
			}
			x.LaunchTemplateVersions = append(x.LaunchTemplateVersions, m)
		}
	}
	if doc, ok := l.optional(ExtraFiles[3].Name, ExtraFiles[3].Command); ok {
		x.AlertPatterns = []json.RawMessage{}
		for _, r := range l.list(doc, "Rules", true) {
			pattern, ok := l.optStr(r, "EventPattern")
			if state := l.str(r, "State"); !ok || !strings.HasPrefix(state, "ENABLED") {
				continue
			}
			if !json.Valid([]byte(pattern)) {
				l.failf(r.file, r.child("EventPattern"), "not JSON")
				continue
			}
			x.AlertPatterns = append(x.AlertPatterns, json.RawMessage(pattern))
		}
	}
	if l.err != nil {
		return Extras{}, l.err
	}
	return x, nil
}

// optional reads a file that may be missing.
func (l *loader) optional(file, command string) (node, bool) {
	if _, err := os.Stat(filepath.Join(l.dir, file)); errors.Is(err, fs.ErrNotExist) {
		return node{}, false
	}
	n := l.read(file, command)
	return n, n.present && l.err == nil
}

// strings is the array of strings at key; missing is none.
func (l *loader) strings(n node, key string) []string {
	var out []string
	for _, s := range l.list(n, key, false) {
		v, ok := s.v.(string)
		if !ok {
			l.failf(s.file, s.path, "expected a string, found %s", kind(s.v))
			continue
		}
		out = append(out, v)
	}
	return out
}

// tags reads the Tags array ([{Key, Value}]); missing is none.
func (l *loader) tags(n node) model.Tags {
	var t model.Tags
	for _, tag := range l.list(n, "Tags", false) {
		if t == nil {
			t = model.Tags{}
		}
		v, _ := l.optStr(tag, "Value")
		t[l.str(tag, "Key")] = v
	}
	return t
}
