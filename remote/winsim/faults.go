package winsim

import "fmt"

// Fault texts as Windows sends them (winrm-reg-reference.md 1.7). The en-US texts are verbatim from
// captures of real hosts, trailing spaces included. German texts are the translations of a de-DE host;
// unverified: no de-DE capture was available, so they follow the Windows German terminology
// ("WS-Verwaltungsdienst") and keep the literal word OperationTimeout that clients look for.
type faultTexts struct {
	timedOut, badCommand, accessDenied, maxShells, badXML, badAction, envelopeTooBig string
	invalidParameter, fileNotFound                                                   string
	badShell                                                                         func(id string) string
}

var texts = map[string]faultTexts{
	"en-US": {
		timedOut:     "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ",
		badCommand:   "The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. Either the command has completed execution or the client specified an invalid command identifier. ",
		accessDenied: "Access is denied. ",
		// Verbatim from pypsrp's captures (tests/responses/test_winrs_fail_poll_process.yml and
		// test_winrs_no_cmd_shell.yml, see testdata/pypsrp/README.md).
		invalidParameter: "The parameter is incorrect. ",
		fileNotFound:     "The system cannot find the file specified. ",
		maxShells:        "The WS-Management service cannot process the request. This user is allowed a maximum number of %d concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. ",
		// unverified: exact texts of the next three faults.
		badXML:         "The WS-Management service cannot process the request because the XML is invalid. ",
		badAction:      "The WS-Management service cannot process the request. The resource URI does not support the operation specified in the Action header. ",
		envelopeTooBig: "The WS-Management service cannot process the request because the request envelope size exceeds the maximum allowed (MaxEnvelopeSizekb). ",
		badShell: func(id string) string {
			return "The request for the Windows Remote Shell with ShellId " + id + " failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation. "
		},
	},
	"de-DE": { // unverified: see above.
		timedOut:     "Der WS-Verwaltungsdienst kann den Vorgang nicht in der in OperationTimeout angegebenen Zeit abschließen.  ",
		badCommand:   "Die Windows-Remoteshell hat eine Anforderung zum Ausführen eines Vorgangs für eine Befehls-ID empfangen, die nicht vorhanden ist. Entweder wurde der Befehl bereits ausgeführt, oder der Client hat eine ungültige Befehls-ID angegeben. ",
		accessDenied: "Zugriff verweigert ",
		// unverified: the German Win32 texts of ERROR_INVALID_PARAMETER and ERROR_FILE_NOT_FOUND, as
		// WinRS would quote them.
		invalidParameter: "Falscher Parameter. ",
		fileNotFound:     "Das System kann die angegebene Datei nicht finden. ",
		maxShells:        "Der WS-Verwaltungsdienst kann die Anforderung nicht verarbeiten. Dieser Benutzer darf maximal %d gleichzeitige Shells verwenden. Dieser Wert wurde überschritten. Schließen Sie vorhandene Shells, oder erhöhen Sie das Kontingent für diesen Benutzer. ",
		badXML:           "Der WS-Verwaltungsdienst kann die Anforderung nicht verarbeiten, da der XML-Code ungültig ist. ",
		badAction:        "Der WS-Verwaltungsdienst kann die Anforderung nicht verarbeiten. Der Ressourcen-URI unterstützt den im Action-Header angegebenen Vorgang nicht. ",
		envelopeTooBig:   "Der WS-Verwaltungsdienst kann die Anforderung nicht verarbeiten, da die Größe des Anforderungsumschlags das zulässige Maximum (MaxEnvelopeSizekb) überschreitet. ",
		badShell: func(id string) string {
			return "Fehler bei der Anforderung für die Windows-Remoteshell mit der ShellId " + id + ", da die Shell auf dem Server nicht gefunden wurde. Mögliche Ursachen: Die angegebene ShellId ist falsch, oder die Shell ist auf dem Server nicht mehr vorhanden. Geben Sie die richtige ShellId an, oder erstellen Sie eine neue Shell, und wiederholen Sie den Vorgang. "
		},
	},
}

func textsFor(locale string) faultTexts {
	if t, ok := texts[locale]; ok {
		return t
	}
	return texts["en-US"]
}

const faultDetailUnexpectedSelectors = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors"

func faultTimedOut(t faultTexts) fault {
	return fault{Code: "s:Receiver", Subcode: "w:TimedOut", Reason: t.timedOut, WSManCode: 2150858793, Message: xmlText(t.timedOut)}
}

func faultBadCommand(t faultTexts) fault {
	reason := "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. "
	return fault{Code: "s:Sender", Subcode: "w:InvalidSelectors", Reason: reason, WSManCode: 2150858843,
		Message: xmlText(t.badCommand), FaultDetail: faultDetailUnexpectedSelectors}
}

func faultBadShell(t faultTexts, id string) fault {
	reason := "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. "
	return fault{Code: "s:Sender", Subcode: "w:InvalidSelectors", Reason: reason, WSManCode: 2150858843,
		Message: xmlText(t.badShell(id)), FaultDetail: faultDetailUnexpectedSelectors}
}

// faultAccessDenied: Windows reports WSManFault Code 5; the s:Code/Subcode pair comes from the DMTF
// fault table (unverified for Windows' exact XML, winrm-reg-reference.md 1.7).
func faultAccessDenied(t faultTexts) fault {
	return fault{Code: "s:Sender", Subcode: "w:AccessDenied", Reason: t.accessDenied, WSManCode: 5, Message: xmlText(t.accessDenied)}
}

// faultMaxShells: Code 2150859173 and the message are from real hosts; Subcode w:QuotaLimit is from the
// DMTF fault table (unverified).
func faultMaxShells(t faultTexts, n int) fault {
	msg := fmt.Sprintf(t.maxShells, n)
	return fault{Code: "s:Receiver", Subcode: "w:QuotaLimit", Reason: msg, WSManCode: 2150859173, Message: xmlText(msg)}
}

// unverified: codes of the three faults below were chosen from the WS-Man fault table and Win32
// WSMAN error constants without a capture.
func faultBadXML(t faultTexts) fault {
	return fault{Code: "s:Sender", Subcode: "w:SchemaValidationError", Reason: t.badXML, WSManCode: 2150858817, Message: xmlText(t.badXML)}
}

func faultBadAction(t faultTexts) fault {
	return fault{Code: "s:Sender", Subcode: "a:ActionNotSupported", Reason: t.badAction, WSManCode: 2150858858, Message: xmlText(t.badAction)}
}

func faultEnvelopeTooBig(t faultTexts) fault {
	return fault{Code: "s:Sender", Subcode: "w:EncodingLimit", Reason: t.envelopeTooBig, WSManCode: 2150858818, Message: xmlText(t.envelopeTooBig)}
}

// providerFault is the f:Message content of a fault raised by the cmd shell plugin (winrscmd.dll).
func providerFault(text string) string {
	return `<f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\system32\winrscmd.dll">` + xmlText(text) + `</f:ProviderFault>`
}

// faultInvalidParameter: a Receive without CommandId (pypsrp test_winrs_fail_poll_process, Server
// 2016): s:Sender / w:InvalidParameter, FaultDetail InvalidValue, WSManFault 87 from winrscmd.dll.
func faultInvalidParameter(t faultTexts) fault {
	return fault{Code: "s:Sender", Subcode: "w:InvalidParameter", Reason: t.invalidParameter, WSManCode: 87,
		Message: providerFault(t.invalidParameter), FaultDetail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue"}
}

// faultFileNotFound: a Command with WINRS_SKIP_CMD_SHELL=TRUE whose program is not found (pypsrp
// test_winrs_no_cmd_shell, Server 2008 R2): s:Receiver / w:InternalError, WSManFault 2147942402.
func faultFileNotFound(t faultTexts) fault {
	return fault{Code: "s:Receiver", Subcode: "w:InternalError", Reason: t.fileNotFound, WSManCode: 2147942402,
		Message: providerFault(t.fileNotFound)}
}
