package model

// The catalogue's codes for the instance lifecycle (stop, start, reboot) and launch
// templates, kept in a file of their own so that the parts of issue 13 built side by side do
// not edit one list. [UNCONFIRMED] against a live account: that StopInstances with Hibernate on
// an instance launched without hibernation answers UnsupportedHibernationConfiguration (the
// code is in EC2's error catalogue for hibernation prerequisites; the wording is Stockade's).
var (
	UnsupportedHibernationConfiguration = def("UnsupportedHibernationConfiguration", 400, "")
)
