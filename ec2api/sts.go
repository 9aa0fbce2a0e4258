package ec2api

import (
	"net/http"
)

// getCallerIdentity answers STS GetCallerIdentity, which the AWS CLI and Terraform use to check
// credentials. STS speaks the awsquery protocol: a …Result wrapper and ResponseMetadata.
func (s *Server) getCallerIdentity(w http.ResponseWriter, c *call) int {
	var x xmlWriter
	x.b = append(x.b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`...)
	x.open("GetCallerIdentityResult")
	arn := c.account.ARN()
	if c.account.AccessKeyID == "" || c.account.Name == "emulator" {
		arn = "arn:aws:iam::" + c.account.ID + ":root"
	}
	x.str("Arn", arn)
	x.str("UserId", c.account.ID)
	x.str("Account", c.account.ID)
	x.close("GetCallerIdentityResult")
	x.open("ResponseMetadata")
	x.str("RequestId", c.requestID)
	x.close("ResponseMetadata")
	x.close("GetCallerIdentityResponse")
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Write(x.b)
	return http.StatusOK
}
