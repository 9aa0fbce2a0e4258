package adminapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestAuditHistory: the history of the account and region asked for, by name or ID; a
// missing account, a missing region and a server without the continuous audit are errors.
func TestAuditHistory(t *testing.T) {
	ctx := context.Background()
	accounts := registry(t)
	admin, _ := accounts.Admin()
	history := func(_ context.Context, account, region string) (json.RawMessage, error) {
		return json.RawMessage(`{"account":"` + account + `","region":"` + region + `"}`), nil
	}
	c := Dial(serve(t, WithHistory(Handler(accounts, nil, nil, nil), accounts, history)))
	got, err := c.AuditHistory(ctx, "", "eu-west-1")
	if err != nil || string(got) != `{"account":"`+admin.ID+`","region":"eu-west-1"}` {
		t.Fatalf("history: %s %v", got, err)
	}
	if _, err := c.AuditHistory(ctx, "mallory", "eu-west-1"); err == nil || !strings.Contains(err.Error(), `no account "mallory"`) {
		t.Errorf("unknown account: %v", err)
	}
	if _, err := c.AuditHistory(ctx, "", ""); err == nil || !strings.Contains(err.Error(), "region is required") {
		t.Errorf("no region: %v", err)
	}
	if _, err := c.ListAccounts(ctx); err != nil {
		t.Errorf("the wrapped handler still serves the rest: %v", err)
	}
	off := Dial(serve(t, WithHistory(Handler(accounts, nil, nil, nil), accounts, nil)))
	if _, err := off.AuditHistory(ctx, "", "eu-west-1"); err == nil || !strings.Contains(err.Error(), "--audit=false") {
		t.Errorf("no continuous audit: %v", err)
	}
}
