package model

// The catalogue's codes for the instance lifecycle (stop, start, reboot) and launch
// templates, kept in a file of their own so that the parts of issue 13 built side by side do
// not edit one list. [UNCONFIRMED] against a live account: that StopInstances with Hibernate on
// an instance launched without hibernation answers UnsupportedHibernationConfiguration (the
// code is in EC2's error catalogue for hibernation prerequisites; the wording is Stockade's).
var (
	UnsupportedHibernationConfiguration = def("UnsupportedHibernationConfiguration", 400, "")
)

// UnsupportedOperation is EC2's reply to IPv6 addresses on an instance type without IPv6, as
// recorded from RunInstances in a client's log: "IPv6 addresses are not supported on
// m3.medium" (poseidon/typhoon issue 356).
var UnsupportedOperation = def("UnsupportedOperation", 400, "")

// Launch templates. [UNCONFIRMED] against a live account: the wording of the messages marked so
// in control/launchtemplates.go, and the codes LaunchTemplateLimitExceeded and
// LaunchTemplateVersionLimitExceeded for the quotas (5,000 templates per region, 10,000
// versions per template: EC2 user guide, "Launch template restrictions").
var (
	InvalidLaunchTemplateIDMalformed       = def("InvalidLaunchTemplateId.Malformed", 400, "The specified launch template ID %s is malformed.")
	InvalidLaunchTemplateIDNotFound        = def("InvalidLaunchTemplateId.NotFound", 400, "The specified launch template, with template ID %s, does not exist.")
	InvalidLaunchTemplateNameNotFound      = def("InvalidLaunchTemplateName.NotFoundException", 400, "The specified launch template, with template name %s, does not exist.")
	InvalidLaunchTemplateNameMalformed     = def("InvalidLaunchTemplateName.MalformedException", 400, "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.")
	InvalidLaunchTemplateNameAlreadyExists = def("InvalidLaunchTemplateName.AlreadyExistsException", 400, "Launch template name already in use.")
	InvalidLaunchTemplateVersionNotFound   = def("InvalidLaunchTemplateId.VersionNotFound", 400, "")
	LaunchTemplateLimitExceeded            = def("LaunchTemplateLimitExceeded", 400, "The maximum number of launch templates (%d) has been reached.")
	LaunchTemplateVersionLimitExceeded     = def("LaunchTemplateVersionLimitExceeded", 400, "The maximum number of versions (%d) for launch template %s has been reached.")
)
