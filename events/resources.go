package events

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Scope is one account's bus in one region: rules, connections and API destinations are
// visible only there, as in EventBridge.
type Scope struct{ Account, Region string }

// DefaultBus is the only event bus Stockade has; EventBusName may name it or be omitted.
const DefaultBus = "default"

// Rule states (EventBridge RuleState). ENABLED rules see only events that change something;
// ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS also sees read-only management events (§3.1).
const (
	Enabled          = "ENABLED"
	Disabled         = "DISABLED"
	EnabledWithReads = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
)

// Authorization types of a connection: Stockade keeps the two whose secret it can send
// itself; OAUTH_CLIENT_CREDENTIALS is refused.
const (
	AuthAPIKey = "API_KEY"
	AuthBasic  = "BASIC"
)

// Quotas are EventBridge's per-bus and per-account limits.
type Quotas struct {
	RulesPerBus     int // 300
	TargetsPerRule  int // 5
	Connections     int // 50 per account and region [UNCONFIRMED]
	APIDestinations int // 3,000 per account and region [UNCONFIRMED]
}

// DefaultQuotas are AWS's default quotas.
func DefaultQuotas() Quotas {
	return Quotas{RulesPerBus: 300, TargetsPerRule: 5, Connections: 50, APIDestinations: 3000}
}

// Rule is one rule of the default bus.
type Rule struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	State       string    `json:"state"`
	Pattern     string    `json:"pattern"`
	Created     time.Time `json:"created"`
	Targets     []Target  `json:"targets,omitempty"`

	compiled *Pattern
}

// Target is one target of a rule: an API destination, or a Stockade file target (FileARN).
type Target struct {
	ID  string `json:"id"`
	ARN string `json:"arn"`
}

// Connection holds the authorization an API destination sends. The secret (APIKeyValue or
// Password) is kept in the store, never returned by the API, and is also the key of the
// X-Stockade-Signature HMAC of every delivery through the connection (deliver.go).
type Connection struct {
	Name        string    `json:"name"`
	ARN         string    `json:"arn"`
	Description string    `json:"description,omitempty"`
	AuthType    string    `json:"authType"`
	APIKeyName  string    `json:"apiKeyName,omitempty"`
	APIKeyValue string    `json:"apiKeyValue,omitempty"`
	Username    string    `json:"username,omitempty"`
	Password    string    `json:"password,omitempty"`
	Created     time.Time `json:"created"`
	Modified    time.Time `json:"modified"`
}

// secret is the connection's secret: the HMAC key of its deliveries.
func (c *Connection) secret() string {
	if c.AuthType == AuthBasic {
		return c.Password
	}
	return c.APIKeyValue
}

// Destination is an API destination: an HTTP endpoint, the connection whose authorization
// it sends, and the rate at which it may be invoked.
type Destination struct {
	Name          string    `json:"name"`
	ARN           string    `json:"arn"`
	Description   string    `json:"description,omitempty"`
	ConnectionARN string    `json:"connectionArn"`
	Endpoint      string    `json:"endpoint"`
	Method        string    `json:"method"`
	RateLimit     int       `json:"rateLimit"`
	Created       time.Time `json:"created"`
	Modified      time.Time `json:"modified"`
}

// ARNs, as EventBridge forms them.
func ruleARN(sc Scope, name string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", sc.Region, sc.Account, name)
}

func connectionARN(sc Scope, name, uuid string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:connection/%s/%s", sc.Region, sc.Account, name, uuid)
}

func destinationARN(sc Scope, name, uuid string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:api-destination/%s/%s", sc.Region, sc.Account, name, uuid)
}

// FileARN is the ARN of a Stockade file target: matched events are appended as JSON lines to
// <data-dir>/events/<account>/<region>/<name>.jsonl [STOCKADE], rotated to <name>.jsonl.1 at 64 MiB.
func FileARN(sc Scope, name string) string {
	return fmt.Sprintf("arn:stockade:events:%s:%s:file/%s", sc.Region, sc.Account, name)
}

// RuleARN is the ARN of a rule of the default bus.
func RuleARN(sc Scope, name string) string { return ruleARN(sc, name) }

// BusARN is the ARN of the default bus.
func BusARN(sc Scope) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:event-bus/default", sc.Region, sc.Account)
}

var namePattern = regexp.MustCompile(`^[\.\-_A-Za-z0-9]+$`)

const nameConstraint = `Member must satisfy regular expression pattern: [\.\-_A-Za-z0-9]+`

// checkName is the model's constraint on rule, connection, API destination and target names.
func checkName(v, member string) error {
	if len(v) < 1 || len(v) > 64 {
		return validation(v, member, "Member must have length between 1 and 64")
	}
	if !namePattern.MatchString(v) {
		return validation(v, member, nameConstraint)
	}
	return nil
}

func checkDescription(v string) error {
	if len(v) > 512 {
		return validation(v, "description", "Member must have length less than or equal to 512")
	}
	return nil
}

// checkBus accepts the default bus by name or ARN, or nothing.
func checkBus(sc Scope, name string) error {
	if name == "" || name == DefaultBus || name == BusARN(sc) {
		return nil
	}
	return errorf(CodeResourceNotFound, "Event bus %s does not exist.", name)
}

// checkEndpoint is an API destination's InvocationEndpoint: an absolute http(s) URL with a
// host [STOCKADE: AWS requires HTTPS; Stockade also takes http for local receivers], whose
// address the guard admits when it is a literal.
func checkEndpoint(g *Guard, endpoint string) error {
	if len(endpoint) < 1 || len(endpoint) > 2048 {
		return validation(endpoint, "invocationEndpoint", "Member must have length between 1 and 2048")
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return errorf(CodeValidation, "InvocationEndpoint %s is not a valid http or https URL.", endpoint)
	}
	if err := g.CheckURL(u); err != nil {
		return errorf(CodeValidation, "InvocationEndpoint %s is not allowed: %v.", endpoint, err)
	}
	return nil
}

// targetKind classifies a target ARN of scope: an API destination's, a file target's, or
// neither.
func targetKind(sc Scope, arn string) (kind string, name string) {
	if rest, ok := strings.CutPrefix(arn, fmt.Sprintf("arn:aws:events:%s:%s:api-destination/", sc.Region, sc.Account)); ok {
		name, _, _ = strings.Cut(rest, "/")
		return "api-destination", name
	}
	if rest, ok := strings.CutPrefix(arn, fmt.Sprintf("arn:stockade:events:%s:%s:file/", sc.Region, sc.Account)); ok {
		if checkName(rest, "arn") == nil {
			return "file", rest
		}
	}
	return "", ""
}
