package eventsapi

import (
	"context"

	"github.com/stockade/stockade/events"
)

// The connection and API-destination actions. A connection's secret (ApiKeyValue, Password)
// is never in a reply.

// Connection states: API_KEY and BASIC connections are authorized at once.
const (
	connAuthorized = "AUTHORIZED"
	connDeleting   = "DELETING"
	destActive     = "ACTIVE"
)

type connOut struct {
	ConnectionArn      string
	Name               string `json:",omitempty"`
	Description        string `json:",omitempty"`
	ConnectionState    string
	AuthorizationType  string   `json:",omitempty"`
	AuthParameters     *authOut `json:",omitempty"`
	CreationTime       float64
	LastModifiedTime   float64
	LastAuthorizedTime float64
}

type authOut struct {
	ApiKeyAuthParameters *struct{ ApiKeyName string } `json:",omitempty"`
	BasicAuthParameters  *struct{ Username string }   `json:",omitempty"`
}

func connOf(c events.Connection, state string) connOut {
	return connOut{ConnectionArn: c.ARN, Name: c.Name, ConnectionState: state, AuthorizationType: c.AuthType,
		CreationTime: epoch(c.Created), LastModifiedTime: epoch(c.Modified), LastAuthorizedTime: epoch(c.Modified)}
}

func createConnection(a *API, ctx context.Context, sc events.Scope, body []byte) (any, error) {
	var in struct {
		Name              *string
		Description       string
		AuthorizationType *string
		AuthParameters    struct {
			ApiKeyAuthParameters struct{ ApiKeyName, ApiKeyValue string }
			BasicAuthParameters  struct{ Username, Password string }
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required(in.Name, "name"); err != nil {
		return nil, err
	}
	if err := required(in.AuthorizationType, "authorizationType"); err != nil {
		return nil, err
	}
	p := in.AuthParameters
	c, err := a.svc.CreateConnection(ctx, sc, events.Connection{Name: *in.Name, Description: in.Description, AuthType: *in.AuthorizationType,
		APIKeyName: p.ApiKeyAuthParameters.ApiKeyName, APIKeyValue: p.ApiKeyAuthParameters.ApiKeyValue,
		Username: p.BasicAuthParameters.Username, Password: p.BasicAuthParameters.Password})
	if err != nil {
		return nil, err
	}
	out := connOf(c, connAuthorized)
	out.Name, out.AuthorizationType = "", ""
	return out, nil
}

type nameIn struct{ Name *string }

func decodeName(body []byte) (string, error) {
	var in nameIn
	if err := decode(body, &in); err != nil {
		return "", err
	}
	if err := required(in.Name, "name"); err != nil {
		return "", err
	}
	return *in.Name, nil
}

func describeConnection(a *API, _ context.Context, sc events.Scope, body []byte) (any, error) {
	name, err := decodeName(body)
	if err != nil {
		return nil, err
	}
	c, err := a.svc.DescribeConnection(sc, name)
	if err != nil {
		return nil, err
	}
	out := connOf(c, connAuthorized)
	out.Description = c.Description
	out.AuthParameters = &authOut{}
	if c.AuthType == events.AuthBasic {
		out.AuthParameters.BasicAuthParameters = &struct{ Username string }{c.Username}
	} else {
		out.AuthParameters.ApiKeyAuthParameters = &struct{ ApiKeyName string }{c.APIKeyName}
	}
	return out, nil
}

func listConnections(a *API, _ context.Context, sc events.Scope, body []byte) (any, error) {
	var in listIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	cs, next, err := a.svc.ListConnections(sc, in.NamePrefix, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		Connections []connOut
		NextToken   string `json:",omitempty"`
	}{Connections: []connOut{}, NextToken: next}
	for _, c := range cs {
		out.Connections = append(out.Connections, connOf(c, connAuthorized))
	}
	return out, nil
}

func deleteConnection(a *API, ctx context.Context, sc events.Scope, body []byte) (any, error) {
	name, err := decodeName(body)
	if err != nil {
		return nil, err
	}
	c, err := a.svc.DeleteConnection(ctx, sc, name)
	if err != nil {
		return nil, err
	}
	out := connOf(c, connDeleting)
	out.Name, out.AuthorizationType = "", ""
	return out, nil
}

type destOut struct {
	ApiDestinationArn            string
	Name                         string `json:",omitempty"`
	Description                  string `json:",omitempty"`
	ApiDestinationState          string
	ConnectionArn                string `json:",omitempty"`
	InvocationEndpoint           string `json:",omitempty"`
	HttpMethod                   string `json:",omitempty"`
	InvocationRateLimitPerSecond int    `json:",omitempty"`
	CreationTime                 float64
	LastModifiedTime             float64
}

func destOf(d events.Destination) destOut {
	return destOut{ApiDestinationArn: d.ARN, Name: d.Name, Description: d.Description, ApiDestinationState: destActive,
		ConnectionArn: d.ConnectionARN, InvocationEndpoint: d.Endpoint, HttpMethod: d.Method,
		InvocationRateLimitPerSecond: d.RateLimit, CreationTime: epoch(d.Created), LastModifiedTime: epoch(d.Modified)}
}

func createDestination(a *API, ctx context.Context, sc events.Scope, body []byte) (any, error) {
	var in struct {
		Name, ConnectionArn, InvocationEndpoint, HttpMethod *string
		Description                                         string
		InvocationRateLimitPerSecond                        int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	for _, r := range []struct {
		v *string
		m string
	}{{in.Name, "name"}, {in.ConnectionArn, "connectionArn"}, {in.InvocationEndpoint, "invocationEndpoint"}, {in.HttpMethod, "httpMethod"}} {
		if err := required(r.v, r.m); err != nil {
			return nil, err
		}
	}
	d, err := a.svc.CreateDestination(ctx, sc, events.Destination{Name: *in.Name, Description: in.Description,
		ConnectionARN: *in.ConnectionArn, Endpoint: *in.InvocationEndpoint, Method: *in.HttpMethod, RateLimit: in.InvocationRateLimitPerSecond})
	if err != nil {
		return nil, err
	}
	return destOut{ApiDestinationArn: d.ARN, ApiDestinationState: destActive, CreationTime: epoch(d.Created), LastModifiedTime: epoch(d.Modified)}, nil
}

func describeDestination(a *API, _ context.Context, sc events.Scope, body []byte) (any, error) {
	name, err := decodeName(body)
	if err != nil {
		return nil, err
	}
	d, err := a.svc.DescribeDestination(sc, name)
	if err != nil {
		return nil, err
	}
	return destOf(d), nil
}

func listDestinations(a *API, _ context.Context, sc events.Scope, body []byte) (any, error) {
	var in listIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ds, next, err := a.svc.ListDestinations(sc, in.NamePrefix, in.ConnectionArn, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		ApiDestinations []destOut
		NextToken       string `json:",omitempty"`
	}{ApiDestinations: []destOut{}, NextToken: next}
	for _, d := range ds {
		o := destOf(d)
		o.Description = ""
		out.ApiDestinations = append(out.ApiDestinations, o)
	}
	return out, nil
}

func deleteDestination(a *API, ctx context.Context, sc events.Scope, body []byte) (any, error) {
	name, err := decodeName(body)
	if err != nil {
		return nil, err
	}
	return struct{}{}, a.svc.DeleteDestination(ctx, sc, name)
}
