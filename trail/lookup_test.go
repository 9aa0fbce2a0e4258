package trail

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var euWest = Scope{Account: acct, Region: "eu-west-1"}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// lookupFixture stores n alternating Authorize/Describe records one second apart from
// callTime, returns a Lookup without throttling at callTime + 1 h.
func lookupFixture(t *testing.T, n int) (*Lookup, *Log, *clock) {
	t.Helper()
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	log := openLog(t, filepath.Join(dir, "log"), LogOptions{})
	ctx := context.Background()
	for i := range n {
		action := "AuthorizeSecurityGroupIngress"
		if i%2 == 1 {
			action = "DescribeSecurityGroups"
		}
		r := rec(t, action, fmt.Sprintf("sg-%d", i%3), callTime.Add(time.Duration(i)*time.Second), fmt.Sprintf("e-%02d", i))
		appendRecords(t, log, r)
	}
	c := &clock{callTime.Add(time.Hour)}
	l, err := NewLookup(ctx, st, log, LookupOptions{Rate: -1, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return l, log, c
}

type response struct {
	Events []struct {
		EventId, EventName, ReadOnly, AccessKeyId, EventSource, Username string
		EventTime                                                        float64
		Resources                                                        []Resource
		CloudTrailEvent                                                  string
	}
	NextToken *string
	Type      string `json:"__type"`
	Message   string `json:"message"`
}

func serve(t *testing.T, l *Lookup, sc Scope, body string) (int, response) {
	t.Helper()
	res := l.Serve(context.Background(), sc, Target, []byte(body))
	var r response
	if err := json.Unmarshal(res.Body, &r); err != nil {
		t.Fatalf("body %s: %v", res.Body, err)
	}
	if (res.Err == nil) != (res.Status == 200) || (res.Err != nil && res.Err.Code != r.Type) {
		t.Errorf("Result.Err %+v does not match status %d / %s", res.Err, res.Status, r.Type)
	}
	return res.Status, r
}

func eventIDs(r response) []string {
	var out []string
	for _, e := range r.Events {
		out = append(out, e.EventId)
	}
	return out
}

// TestLookupErrors: every bad input of §2.4 gets its code, HTTP 400, and no events.
func TestLookupErrors(t *testing.T) {
	l, _, _ := lookupFixture(t, 2)
	for _, c := range []struct{ name, body, code string }{
		{"two attributes", `{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"a"},{"AttributeKey":"Username","AttributeValue":"b"}]}`, "InvalidLookupAttributesException"},
		{"unknown key", `{"LookupAttributes":[{"AttributeKey":"Region","AttributeValue":"a"}]}`, "InvalidLookupAttributesException"},
		{"key is case-sensitive", `{"LookupAttributes":[{"AttributeKey":"eventname","AttributeValue":"a"}]}`, "InvalidLookupAttributesException"},
		{"empty value", `{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":""}]}`, "InvalidLookupAttributesException"},
		{"missing value", `{"LookupAttributes":[{"AttributeKey":"EventName"}]}`, "InvalidLookupAttributesException"},
		{"long value", `{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"` + strings.Repeat("a", 2001) + `"}]}`, "InvalidLookupAttributesException"},
		{"bad ReadOnly", `{"LookupAttributes":[{"AttributeKey":"ReadOnly","AttributeValue":"yes"}]}`, "InvalidLookupAttributesException"},
		{"start after end", `{"StartTime":1741083331,"EndTime":1741083330}`, "InvalidTimeRangeException"},
		{"MaxResults 51", `{"MaxResults":51}`, "InvalidMaxResultsException"},
		{"MaxResults 0", `{"MaxResults":0}`, "InvalidMaxResultsException"},
		{"category", `{"EventCategory":"management"}`, "InvalidEventCategoryException"},
		{"garbage token", `{"NextToken":"abc"}`, "InvalidNextTokenException"},
		{"forged token", `{"NextToken":"eyJmIjoiIiwiYyI6IjAwMDAwMDAwMDAwMC9lIiwiaSI6MH0.AAAA"}`, "InvalidNextTokenException"},
		{"not JSON", `{"MaxResults":`, "SerializationException"},
		{"wrong type", `{"MaxResults":"5"}`, "SerializationException"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, r := serve(t, l, euWest, c.body)
			if status != 400 || r.Type != c.code || r.Message == "" || len(r.Events) != 0 {
				t.Errorf("status %d, %s %q, %d events; want 400 %s", status, r.Type, r.Message, len(r.Events), c.code)
			}
		})
	}
	if res := l.Serve(context.Background(), euWest, "CloudTrail_20131101.CreateTrail", nil); res.Status != 400 ||
		!strings.Contains(string(res.Body), "UnknownOperationException") {
		t.Errorf("other target: %d %s", res.Status, res.Body)
	}
}

// TestLookupResponse pins one event of the response (§2.3) against a golden file, and checks
// that CloudTrailEvent is the record itself.
func TestLookupResponse(t *testing.T) {
	l, log, _ := lookupFixture(t, 0)
	r, _ := Build(goldenCalls["authorize-ip-permissions"])
	appendRecords(t, log, r)
	res := l.Serve(context.Background(), euWest, "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
		[]byte(`{"LookupAttributes":[{"AttributeKey":"ResourceName","AttributeValue":"sgr-0c1d2e3f4a5b6c7d8"}]}`))
	if res.Status != 200 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	checkGolden(t, filepath.Join("testdata", "lookup-events.json"), res.Body)
	var out response
	json.Unmarshal(res.Body, &out)
	rec, _ := json.Marshal(r)
	if len(out.Events) != 1 || out.Events[0].CloudTrailEvent != string(rec) || out.Events[0].ReadOnly != "false" ||
		out.Events[0].EventTime != 1741083330 || out.NextToken != nil {
		t.Errorf("event %+v", out)
	}
}

// TestLookupPaging follows NextTokens to the end with the AWS CLI's loop (§2.5, §8.3): every
// event once, newest first, no token on the last page; a token replayed with another
// attribute, another region, after its lifetime or altered is InvalidNextTokenException.
func TestLookupPaging(t *testing.T) {
	l, _, clk := lookupFixture(t, 9)
	attr := `"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"AuthorizeSecurityGroupIngress"}]`
	var got []string
	var first string
	body := `{` + attr + `,"MaxResults":2}`
	for pages := 0; ; pages++ {
		status, r := serve(t, l, euWest, body)
		if status != 200 || pages > 5 {
			t.Fatalf("page %d: %d %s", pages, status, r.Type)
		}
		got = append(got, eventIDs(r)...)
		if r.NextToken == nil {
			break
		}
		if *r.NextToken == "" {
			t.Fatal(`NextToken ""`)
		}
		if first == "" {
			first = *r.NextToken
		}
		body = fmt.Sprintf(`{%s,"MaxResults":3,"NextToken":%q}`, attr, *r.NextToken)
	}
	if diff := cmp.Diff([]string{"e-08", "e-06", "e-04", "e-02", "e-00"}, got); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	for name, c := range map[string]struct {
		sc   Scope
		body string
	}{
		"other attribute": {euWest, fmt.Sprintf(`{"LookupAttributes":[{"AttributeKey":"Username","AttributeValue":"alice"}],"NextToken":%q}`, first)},
		"no attribute":    {euWest, fmt.Sprintf(`{"NextToken":%q}`, first)},
		"other region":    {Scope{acct, "us-east-1"}, fmt.Sprintf(`{%s,"NextToken":%q}`, attr, first)},
		"altered":         {euWest, fmt.Sprintf(`{%s,"NextToken":%q}`, attr, "x"+first)},
	} {
		if status, r := serve(t, l, c.sc, c.body); status != 400 || r.Type != "InvalidNextTokenException" {
			t.Errorf("%s: %d %s", name, status, r.Type)
		}
	}
	clk.t = clk.t.Add(tokenLifetime - time.Second)
	if status, r := serve(t, l, euWest, fmt.Sprintf(`{%s,"NextToken":%q}`, attr, first)); status != 200 || len(r.Events) != 3 {
		t.Errorf("token within its lifetime: %d %s %v", status, r.Type, eventIDs(r))
	}
	clk.t = clk.t.Add(2 * time.Second)
	if status, r := serve(t, l, euWest, fmt.Sprintf(`{%s,"NextToken":%q}`, attr, first)); status != 400 || r.Type != "InvalidNextTokenException" {
		t.Errorf("expired token: %d %s", status, r.Type)
	}
}

// TestLookupTokenSurvivesRestart: the token key is in the store, so a token issued before a
// restart is honoured after it.
func TestLookupTokenSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	log := openLog(t, filepath.Join(dir, "log"), LogOptions{})
	for i := range 3 {
		appendRecords(t, log, rec(t, "DeleteSecurityGroup", "sg-1", callTime.Add(time.Duration(i)*time.Second), fmt.Sprintf("e-%02d", i)))
	}
	clk := &clock{callTime.Add(time.Hour)}
	l, err := NewLookup(ctx, st, log, LookupOptions{Rate: -1, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	_, r := serve(t, l, euWest, `{"MaxResults":1}`)
	if r.NextToken == nil {
		t.Fatal("no NextToken")
	}
	l2, err := NewLookup(ctx, st, log, LookupOptions{Rate: -1, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if status, r2 := serve(t, l2, euWest, fmt.Sprintf(`{"MaxResults":1,"NextToken":%q}`, *r.NextToken)); status != 200 ||
		!cmp.Equal(eventIDs(r2), []string{"e-01"}) {
		t.Errorf("token after restart: %d %s %v", status, r2.Type, eventIDs(r2))
	}
}

// TestLookupWindow: StartTime/EndTime bound the events inclusively; the 90-day window is never
// exceeded, whatever StartTime says; an insight lookup is empty; another region sees nothing.
func TestLookupWindow(t *testing.T) {
	l, log, clk := lookupFixture(t, 5)
	appendRecords(t, log, rec(t, "DeleteSecurityGroup", "sg-old", clk.t.Add(-Retention-time.Second), "e-old"))
	base := float64(callTime.Unix())
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"default window", `{}`, []string{"e-04", "e-03", "e-02", "e-01", "e-00"}},
		{"inclusive range", fmt.Sprintf(`{"StartTime":%v,"EndTime":%v}`, base+1, base+3), []string{"e-03", "e-02", "e-01"}},
		{"fractions", fmt.Sprintf(`{"StartTime":%v,"EndTime":%v}`, base+0.5, base+3.9), []string{"e-03", "e-02", "e-01"}},
		{"old StartTime is clamped", `{"StartTime":0}`, []string{"e-04", "e-03", "e-02", "e-01", "e-00"}},
		{"EndTime before the window", `{"EndTime":1000}`, nil},
		{"insight", `{"EventCategory":"insight"}`, nil},
		{"ReadOnly", `{"LookupAttributes":[{"AttributeKey":"ReadOnly","AttributeValue":"true"}]}`, []string{"e-03", "e-01"}},
	} {
		status, r := serve(t, l, euWest, c.body)
		if status != 200 {
			t.Errorf("%s: %d %s", c.name, status, r.Type)
		}
		if diff := cmp.Diff(c.want, eventIDs(r)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	if _, r := serve(t, l, Scope{acct, "us-east-1"}, `{}`); len(r.Events) != 0 {
		t.Errorf("us-east-1 sees %v", eventIDs(r))
	}
	if _, r := serve(t, l, Scope{"444455556666", "eu-west-1"}, `{}`); len(r.Events) != 0 {
		t.Errorf("another account sees %v", eventIDs(r))
	}
}

// TestLookupThrottle: 2 requests per second per account and region, refilled by the clock.
func TestLookupThrottle(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "s.db"))
	clk := &clock{callTime}
	l, err := NewLookup(context.Background(), st, openLog(t, filepath.Join(dir, "log"), LogOptions{}), LookupOptions{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	codes := func(sc Scope, n int) []int {
		var out []int
		for range n {
			status, _ := serve(t, l, sc, `{}`)
			out = append(out, status)
		}
		return out
	}
	if diff := cmp.Diff([]int{200, 200, 400}, codes(euWest, 3)); diff != "" {
		t.Errorf("burst (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{200}, codes(Scope{acct, "us-east-1"}, 1)); diff != "" {
		t.Errorf("other region has its own bucket (-want +got):\n%s", diff)
	}
	clk.t = clk.t.Add(500 * time.Millisecond)
	if diff := cmp.Diff([]int{200, 400}, codes(euWest, 2)); diff != "" {
		t.Errorf("after 0.5 s (-want +got):\n%s", diff)
	}
	_, r := serve(t, l, euWest, `{}`)
	if r.Type != "ThrottlingException" {
		t.Errorf("throttled with %q", r.Type)
	}
}

// TestLookupHandler: the HTTP face (§2.1): JSON content type, x-amzn-RequestId, 400 errors,
// the scope function's refusal, and the done hook that lets the caller record the call.
func TestLookupHandler(t *testing.T) {
	l, _, _ := lookupFixture(t, 2)
	var recorded []string
	h := l.Handler(func(w http.ResponseWriter, r *http.Request) (Scope, bool) {
		if r.Header.Get("Authorization") == "" {
			http.Error(w, "no", http.StatusForbidden)
			return Scope{}, false
		}
		return euWest, true
	}, func(r *http.Request, sc Scope, id string, body []byte, res Result) {
		code := ""
		if res.Err != nil {
			code = res.Err.Code
		}
		recorded = append(recorded, fmt.Sprintf("%s %s %d %s %s", sc.Region, body, res.Status, code, id))
	})
	do := func(auth, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", Target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	w := do("sig", `{"MaxResults":1}`)
	id := w.Header().Get("x-amzn-RequestId")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/x-amz-json-1.1" || len(id) != 36 ||
		!strings.Contains(w.Body.String(), `"EventId":"e-01"`) {
		t.Errorf("success: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if w := do("sig", `{"MaxResults":99}`); w.Code != 400 || !strings.Contains(w.Body.String(), `"__type":"InvalidMaxResultsException"`) {
		t.Errorf("error: %d %s", w.Code, w.Body)
	}
	if w := do("", `{}`); w.Code != 403 {
		t.Errorf("unauthenticated: %d", w.Code)
	}
	want := []string{`eu-west-1 {"MaxResults":1} 200  ` + id, `eu-west-1 {"MaxResults":99} 400 InvalidMaxResultsException `}
	if len(recorded) != 2 || recorded[0] != want[0] || !strings.HasPrefix(recorded[1], want[1]) {
		t.Errorf("recorded calls:\n%s\nwant\n%s", strings.Join(recorded, "\n"), strings.Join(want, "\n"))
	}
}
