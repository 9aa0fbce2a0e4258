package model

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestCatalogueStatuses(t *testing.T) {
	valid := map[int]bool{http.StatusBadRequest: true, http.StatusUnauthorized: true, http.StatusForbidden: true,
		http.StatusPreconditionFailed: true, http.StatusRequestTimeout: true, http.StatusRequestEntityTooLarge: true,
		http.StatusInternalServerError: true, http.StatusServiceUnavailable: true,
		// S3's own: NoSuchBucket and NoSuchKey 404, MethodNotAllowed 405, BucketNotEmpty and
		// the name conflicts 409, InvalidRange 416, NotImplemented 501.
		http.StatusNotFound: true, http.StatusMethodNotAllowed: true, http.StatusConflict: true,
		http.StatusRequestedRangeNotSatisfiable: true, http.StatusNotImplemented: true}
	for name, c := range catalogue {
		if !valid[c.Status] {
			t.Errorf("%s: status %d is not one EC2 (or S3) answers with", name, c.Status)
		}
		if c.Name != name {
			t.Errorf("%s is catalogued under %q", c.Name, name)
		}
	}
	for code, want := range map[string]int{
		"AuthFailure": 401, "DryRunOperation": 412, "InvalidGroup.NotFound": 400, "InternalError": 500,
		"RequestEntityTooLarge": 413, "InvalidClientTokenId": 403, "NoSuchCode": 400,
	} {
		if got := StatusOf(code); got != want {
			t.Errorf("StatusOf(%s) = %d, want %d", code, got, want)
		}
	}
}

// TestTemplatesTakeTheirArguments fills every template with as many arguments as it has verbs:
// a template whose verbs do not match its use would print %!(EXTRA …) or %!s(MISSING).
func TestTemplatesTakeTheirArguments(t *testing.T) {
	for name, c := range catalogue {
		n := strings.Count(c.template, "%") - 2*strings.Count(c.template, "%%")
		args := make([]any, n)
		for i := range args {
			args[i] = verbless{}
		}
		if msg := c.New(args...).Message; strings.Contains(msg, "%!") {
			t.Errorf("%s: %q", name, msg)
		}
	}
	if got := InvalidGroupNotFound.New("sg-1"); got.Code != "InvalidGroup.NotFound" || got.Message != "The security group 'sg-1' does not exist" {
		t.Errorf("New = %+v", got)
	}
}

// verbless formats as "x" under any verb.
type verbless struct{}

func (verbless) Format(f fmt.State, _ rune) { f.Write([]byte("x")) }
