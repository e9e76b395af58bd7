// Package soap reads and writes the WS-Management SOAP envelopes that Windows
// Event Forwarding uses in source-initiated (push) mode: Enumerate and its
// EnumerateResponse carrying subscriptions, Events and Heartbeat with their
// Ack, End and SubscriptionEnd. Bodies travel as UTF-16LE with a BOM; the
// decoder also takes UTF-8 and never fails on invalid code units (they become
// U+FFFD), because real forwarders do send them.
package soap

// Namespaces and actions of MS-WSMV push subscriptions.
const (
	NSEnvelope     = "http://www.w3.org/2003/05/soap-envelope"
	NSAddressing   = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	NSEventing     = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
	NSEnumeration  = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
	NSWSMan        = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	NSMSWSMan      = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
	NSSubscription = "http://schemas.microsoft.com/wbem/wsman/1/subscription"
	NSMachineID    = "http://schemas.microsoft.com/wbem/wsman/1/machineid"
	NSPolicy       = "http://schemas.xmlsoap.org/ws/2002/12/policy"
	NSAuth         = "http://schemas.microsoft.com/wbem/wsman/1/authentication"
	NSXSI          = "http://www.w3.org/2001/XMLSchema-instance"

	AddressAnonymous = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

	ActionEnumerate         = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
	ActionEnumerateResponse = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse"
	ActionSubscribe         = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe"
	ActionEvents            = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events"
	ActionHeartbeat         = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat"
	ActionAck               = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack"
	ActionEnd               = "http://schemas.microsoft.com/wbem/wsman/1/wsman/End"
	ActionSubscriptionEnd   = "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd"
	ActionEvent             = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Event"

	ResourceSubscription = "http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription"
	ResourceEventLog     = "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"
	ResourceFullDuplex   = "http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex"

	DeliveryModeEvents = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events"
	FilterDialect      = "http://schemas.microsoft.com/win/2004/08/events/eventquery"
	BookmarkEarliest   = "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"
	StatusCancelling   = "http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling"

	ProfileKerberos = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos"
	ProfileMutual   = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"

	// ContentType is what Windows sends and expects for plain SOAP bodies.
	ContentType = "application/soap+xml;charset=UTF-16"
)

// DeliveryPath prefixes wefgate's delivery addresses (the subscription
// UUID follows). It is wefgate's choice, not the protocol's: the
// subscription offers it and the endpoint tells deliveries from Enumerate
// by it.
const DeliveryPath = "/wsman/subscriptions/"
