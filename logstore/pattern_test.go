package logstore

import "testing"

// The examples of AWS's "Filter pattern syntax" page, on flow-log records and log lines.
func TestPattern(t *testing.T) {
	const reject22 = "2 123456789012 eni-1 203.0.113.12 10.0.1.5 49761 22 6 1 40 1764600000 1764600060 REJECT OK"
	const accept443 = "2 123456789012 eni-1 10.0.1.9 10.0.1.5 49762 443 6 5 4000 1764600000 1764600060 ACCEPT OK"
	const apache = `127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 404 1534`
	flow := `[version, account, eni, source, destination, srcport, destport="22", protocol="6", packets, bytes, windowstart, windowend, action="REJECT", flowlogstatus]`
	for _, c := range []struct {
		pattern string
		msg     string
		want    bool
	}{
		{"", "anything", true},
		{flow, reject22, true},
		{flow, accept443, false},
		{"[..., action=REJECT, status]", reject22, true},
		{"[..., action!=REJECT, status]", reject22, false},
		{"[v, a, e, s, d, sp, dp, p, packets, bytes>1000, ...]", accept443, true},
		{"[v, a, e, s, d, sp, dp, p, packets, bytes>1000, ...]", reject22, false},
		{"[v, a, e, s, d, sp, dp>=443 && dp<=443, ...]", accept443, true},
		{"[v, a, e, s=203.0.113.*, ...]", reject22, true},
		{"[v, a, e, s=203.0.113.*, ...]", accept443, false},
		{"[v, a, e, s, d, sp, dp=22 || dp=443, ...]", accept443, true},
		{"[a, b]", reject22, false}, // too few fields and no ellipsis
		{"[ip, user, username, timestamp, request = *.gif*, status_code = 4*, bytes]", apache, true},
		{"[ip, user, username, timestamp, request, status_code = 5*, bytes]", apache, false},
		{"REJECT", reject22, true},
		{"REJECT 443", reject22, false},
		{"REJECT -443", reject22, true},
		{"?ACCEPT ?NODATA", reject22, false},
		{"?ACCEPT ?REJECT", reject22, true},
		{`"GET /apache_pb.gif"`, apache, true},
		{`"GET /other"`, apache, false},
	} {
		p, err := ParsePattern(c.pattern)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", c.pattern, err)
			continue
		}
		if got := p.Match(c.msg); got != c.want {
			t.Errorf("%q on %q: %v, want %v", c.pattern, c.msg, got, c.want)
		}
	}
	for _, bad := range []string{`{ $.x = 1 }`, `%ab+%`, `[a, b`, `[a, bytes > x]`, `[a, , b]`, `"open`} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("ParsePattern(%q) accepted", bad)
		}
	}
}
