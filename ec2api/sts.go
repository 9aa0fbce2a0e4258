package ec2api

import (
	"net/http"

	"github.com/stockade/stockade/auth/sigv4"
	"github.com/stockade/stockade/model"
)

// getCallerIdentity answers STS GetCallerIdentity, which the AWS CLI and Terraform use to check
// credentials. STS speaks the awsquery protocol: a …Result wrapper and ResponseMetadata.
func (s *Server) getCallerIdentity(w http.ResponseWriter, c *call) (int, []byte) {
	var x xmlWriter
	x.b = append(x.b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`...)
	x.open("GetCallerIdentityResult")
	arn := c.account.ARN()
	if c.account.AccessKeyID == "" || c.account.Name == "emulator" {
		arn = "arn:aws:iam::" + c.account.ID + ":root"
	}
	userID := c.account.ID
	if p := c.principal; p != nil {
		arn, userID = p.ARN, p.UserID
	}
	x.str("Arn", arn)
	x.str("UserId", userID)
	x.str("Account", c.account.ID)
	x.close("GetCallerIdentityResult")
	x.open("ResponseMetadata")
	x.str("RequestId", c.requestID)
	x.close("ResponseMetadata")
	x.close("GetCallerIdentityResponse")
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Write(x.b)
	return http.StatusOK, x.b
}

// STS's own words for authentication failures, where EC2 says AuthFailure (STS API reference,
// Common Errors; the messages are what STS answers the AWS CLI with).
// stsAuthError is a verification failure in STS's codes: an unknown key (or a security token
// where no Authorizer admits sessions) is InvalidClientTokenId, a wrong signature or scope is
// SignatureDoesNotMatch, an unsigned request MissingAuthenticationToken. With IAM on, the
// server routes STS calls to authz.Front instead; this path serves emulator mode and servers
// built without an Authorizer.
func stsAuthError(e *sigv4.Error) *model.Error {
	switch e.Reason {
	case sigv4.UnknownKey:
		return model.InvalidClientTokenId.New()
	case sigv4.BadSignature:
		if e.Message == sigv4.AuthFailureMessage {
			return model.SignatureDoesNotMatch.New()
		}
		return model.SignatureDoesNotMatch.Errorf("%s", e.Message)
	case sigv4.BadScope:
		return model.SignatureDoesNotMatch.Errorf("%s", e.Message)
	case sigv4.Unsigned:
		return model.MissingAuthenticationToken.New()
	case sigv4.Expired:
		return model.RequestExpired.Errorf("%s", e.Message)
	}
	return model.IncompleteSignature.Errorf("%s", e.Message)
}

// stsStatus is the HTTP status of an STS error code: the catalogue's, but STS answers a few
// shared codes differently from EC2.
func stsStatus(code string) int {
	switch code {
	case "AccessDenied":
		return http.StatusForbidden
	case "Throttling":
		return http.StatusServiceUnavailable
	}
	return statusOf(code)
}

// writeSTSError renders STS's (awsquery) error envelope:
// <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>.
func writeSTSError(w http.ResponseWriter, requestID string, e *model.Error) int {
	status := stsStatus(e.Code)
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	var x xmlWriter
	x.b = append(x.b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`...)
	x.open("Error")
	x.str("Type", typ)
	x.str("Code", e.Code)
	x.str("Message", e.Message)
	x.close("Error")
	x.str("RequestId", requestID)
	x.close("ErrorResponse")
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(status)
	w.Write(x.b)
	return status
}
