package winsim

import "fmt"

// How a host refuses an account that logs on but lacks the rights to use WinRM (Config.RightsRefusal;
// fidelity evidence D2). Real Windows answers it three ways: a Basic logon of such an account gets
// HTTP 401 like a wrong password (remote/winsim/auth, whatever is chosen here); over Negotiate
// (NTLM, Kerberos) the account is authenticated and the WS-Man layer answers with one of two faults.
const (
	// RightsAccessDenied (the default): HTTP 500, s:Sender / w:AccessDenied, WSManFault Code 5
	// ("WSMAN ERROR CODE: 5", WinRb/WinRM#194): the service's RootSDDL refuses the account.
	RightsAccessDenied = "access-denied"
	// RightsInternalError: HTTP 500, s:Receiver / w:InternalError, WSManFault Code 2147942405
	// (E_ACCESSDENIED) "Access is denied." (wazuh/wazuh-ansible#581).
	// unverified: which configuration produces this form (plausibly an account the service lets in,
	// for example through Remote Management Users, that the cmd shell plugin then refuses); the
	// simulator answers every request of the account with it, as a ProviderFault of winrscmd.dll like
	// the plugin's other InternalError faults.
	RightsInternalError = "internal-error"
)

// checkRightsRefusal validates Config.RightsRefusal ("" is RightsAccessDenied).
func checkRightsRefusal(name, form string) error {
	switch form {
	case "", RightsAccessDenied, RightsInternalError:
		return nil
	}
	return fmt.Errorf("winsim: host %s: rights refusal %q (want %s or %s)", name, form, RightsAccessDenied, RightsInternalError)
}

// faultRights is the fault a non-admin account gets (Config.RightsRefusal).
func faultRights(form string, t faultTexts) fault {
	if form == RightsInternalError {
		return fault{Code: "s:Receiver", Subcode: "w:InternalError", Reason: t.accessDenied, WSManCode: 2147942405,
			Message: providerFault(t.accessDenied)}
	}
	return faultAccessDenied(t)
}
