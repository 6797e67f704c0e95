package registry

import "strings"

// texts holds the console texts of reg.exe for one display language. Every text that ends a line
// carries its own CRLF. Sources are noted per string; "unverified" marks a best guess.
type texts struct {
	// success is printed after add, delete, copy, export (stdout) and import (stderr).
	// Windows prints the system text of ERROR_SUCCESS and an empty line
	// (mitre/caldera parser tests: "The operation completed successfully.\r\n\r\n"; public
	// transcripts show the empty line before the next prompt).
	success string
	// errPrefix starts every error line on stderr.
	errPrefix string
	// Error texts (without prefix and line end).
	invalidSyntax, invalidKey, notFound, paramIncorrect, netPath, accessDenied string
	fileOpen, regAccess, pathNotFound, sameKeys                                string
	// usageHint is the line after a syntax or key-name error; %s is the upper-cased verb.
	usageHint string
	// regHint is the hint when no verb or an unknown verb was given.
	regHint string
	// cancel is printed (stdout) when the user answers No.
	cancel string
	// Prompts; the %s is the value name, key or file.
	promptOverwriteValue, promptDeleteValue, promptDeleteAll, promptDeleteKey, promptOverwriteFile string
	yes, no                                                                                        []string
	// Query.
	defaultName, valueNotSet, endOfSearch string // endOfSearch: %d matches
	// Compare.
	cmpValue, cmpKey, cmpIdentical, cmpDifferent string
}

var enUS = texts{
	success:   "The operation completed successfully.\r\n\r\n",
	errPrefix: "ERROR: ",
	// Wine tests + mitre/caldera: "ERROR: Invalid key name.\r\nType \"REG ADD /?\" for usage.\r\n".
	invalidSyntax:  "Invalid syntax.",
	invalidKey:     "Invalid key name.",
	notFound:       "The system was unable to find the specified registry key or value.",
	paramIncorrect: "The parameter is incorrect.", // mitre/caldera tests (bad /d data)
	netPath:        "The network path was not found.",
	accessDenied:   "Access is denied.",
	// unverified: text of reg import for a missing file (from memory of Windows consoles).
	fileOpen: "Error opening the file. There may be a disk or file system error.",
	// unverified: reg import failure text (reference 4.7).
	regAccess:    "Error accessing the registry.",
	pathNotFound: "The system cannot find the path specified.",
	// unverified: Windows wording for reg copy with identical source and destination.
	sameKeys:  "The source and destination keys cannot be the same.",
	usageHint: "Type \"REG %s /?\" for usage.\r\n",
	regHint:   "Type \"REG /?\" for usage.\r\n",
	// Win32 text of ERROR_CANCELLED; printed by reg add when the overwrite is declined
	// (public reg.exe transcripts). unverified: the empty line after it.
	cancel: "The operation was canceled by the user.\r\n\r\n",
	// Public transcripts: "Value ImagePath exists, overwrite(Yes/No)? Yes".
	promptOverwriteValue: "Value %s exists, overwrite(Yes/No)? ",
	// Public transcripts: "Delete the registry value X (Yes/No)?" is unverified; the two below are seen
	// in transcripts ("Delete all values under the registry key HKEY_CURRENT_USER\software\... (Yes/No)? yes",
	// "Permanently delete the registry key HKEY_CURRENT_USER\System\CurrentControlSet\Capcom (Yes/No)? Yes").
	promptDeleteValue: "Delete the registry value %s (Yes/No)? ",
	promptDeleteAll:   "Delete all values under the registry key %s (Yes/No)? ",
	promptDeleteKey:   "Permanently delete the registry key %s (Yes/No)? ",
	// Seen for reg save ("File C:\Windows\TEMP\sam already exists. Overwrite (Yes/No)?");
	// unverified that reg export uses the same string.
	promptOverwriteFile: "File %s already exists. Overwrite (Yes/No)? ",
	yes:                 []string{"y", "yes"},
	no:                  []string{"n", "no"},
	defaultName:         "(Default)",
	valueNotSet:         "(value not set)",
	// Public transcripts: "End of search: 2 match(es) found.".
	endOfSearch: "End of search: %d match(es) found.\r\n",
	// unverified spacing: a public batch tutorial shows
	// "< Value: HKEY_CURRENT_USER\Console EnableColorSelection REG_DWORD 0x0".
	cmpValue: "Value: ",
	cmpKey:   "Key: ", // unverified
	// tutorialspoint / pg-fl.jp: "Result Compared: Identical" then the success line.
	cmpIdentical: "Result Compared: Identical\r\n",
	cmpDifferent: "Result Compared: Different\r\n",
}

var deDE = texts{
	// "Der Vorgang wurde erfolgreich beendet." is seen in public German consoles (reg import, bcdedit).
	success:   "Der Vorgang wurde erfolgreich beendet.\r\n\r\n",
	errPrefix: "FEHLER: ", // public German console transcript of reg query
	// unverified: German reg.exe wording.
	invalidSyntax: "Ungültige Syntax.",
	// unverified: German reg.exe wording.
	invalidKey: "Ungültiger Schlüsselname.",
	// Public German console transcript: "FEHLER: Der angegebene Registrierungsschlüssel bzw. Wert wurde nicht gefunden."
	notFound: "Der angegebene Registrierungsschlüssel bzw. Wert wurde nicht gefunden.",
	// Win32 German text of ERROR_INVALID_PARAMETER. unverified: that reg.exe prints it here.
	paramIncorrect: "Falscher Parameter.",
	netPath:        "Der Netzwerkpfad wurde nicht gefunden.", // Win32 German text of ERROR_BAD_NETPATH
	accessDenied:   "Zugriff verweigert",                     // Win32 German text of ERROR_ACCESS_DENIED
	// unverified: German reg import texts.
	fileOpen:     "Fehler beim Öffnen der Datei. Möglicherweise liegt ein Datenträger- oder Dateisystemfehler vor.",
	regAccess:    "Fehler beim Zugriff auf die Registrierung.",
	pathNotFound: "Das System kann den angegebenen Pfad nicht finden.",    // Win32 German text of ERROR_PATH_NOT_FOUND
	sameKeys:     "Quell- und Zielschlüssel dürfen nicht identisch sein.", // unverified
	// unverified: the German usage hint (pattern of other German Windows tools:
	// "Geben Sie \"WHOAMI /?\" ein, um die Syntax anzuzeigen.").
	usageHint: "Geben Sie \"REG %s /?\" ein, um die Syntax anzuzeigen.\r\n",
	regHint:   "Geben Sie \"REG /?\" ein, um die Syntax anzuzeigen.\r\n", // unverified
	// Win32 German text of ERROR_CANCELLED (seen in a German .NET exception message).
	cancel: "Der Vorgang wurde durch den Benutzer abgebrochen.\r\n\r\n",
	// Seen on Windows 11 25H2 (winscript issue #147): "Der Wert {…} ist vorhanden. Überschreiben (J/N)?".
	promptOverwriteValue: "Der Wert %s ist vorhanden. Überschreiben (J/N)? ",
	// unverified: German delete and file prompts, built like the confirmed one above.
	promptDeleteValue:   "Registrierungswert %s löschen (J/N)? ",
	promptDeleteAll:     "Alle Werte unter dem Registrierungsschlüssel %s löschen (J/N)? ",
	promptDeleteKey:     "Registrierungsschlüssel %s endgültig löschen (J/N)? ",
	promptOverwriteFile: "Die Datei %s ist vorhanden. Überschreiben (J/N)? ",
	// unverified: which answers German reg.exe accepts.
	yes: []string{"j", "ja"},
	no:  []string{"n", "nein"},
	// "(Standard)" is seen in a third-party test fixture of German reg query output.
	defaultName: "(Standard)",
	valueNotSet: "(Wert nicht festgelegt)",                             // unverified (regedit's German wording)
	endOfSearch: "Suche beendet: %d Übereinstimmung(en) gefunden.\r\n", // unverified
	cmpValue:    "Wert: ",                                              // unverified
	cmpKey:      "Schlüssel: ",                                         // unverified
	// The German ATP proxy doc (human translation, 2018) quotes „Ergebnis verglichen: unterschiedlich“;
	// unverified as console text, and "identisch" is a guess.
	cmpIdentical: "Ergebnis verglichen: identisch\r\n",
	cmpDifferent: "Ergebnis verglichen: unterschiedlich\r\n",
}

// textsFor returns the texts of a locale; anything but de-DE (case-insensitive, "de" prefix) is en-US.
func textsFor(locale string) *texts {
	if strings.HasPrefix(strings.ToLower(locale), "de") {
		return &deDE
	}
	return &enUS
}

// usage texts for "REG <verb> /?". unverified: abbreviated versions of the Windows help screens (the
// syntax lines follow the Windows Server docs reg-*.md); the English text is shown for both locales.
var usageTexts = map[string]string{
	"": "\r\nREG Operation [Parameter List]\r\n\r\n" +
		"  Operation  == [ QUERY   | ADD    | DELETE  | COPY    |\r\n" +
		"                  SAVE    | LOAD   | UNLOAD  | RESTORE |\r\n" +
		"                  COMPARE | EXPORT | IMPORT  | FLAGS ]\r\n\r\n" +
		"Return Code: (Except for REG COMPARE)\r\n\r\n" +
		"  0 - Successful\r\n  1 - Failed\r\n\r\n" +
		"For help on a specific operation type:\r\n\r\n  REG Operation /?\r\n\r\n",
	"QUERY": "\r\nREG QUERY KeyName [/v [ValueName] | /ve] [/s]\r\n" +
		"          [/f Data [/k] [/d] [/c] [/e]] [/t Type] [/z] [/se Separator]\r\n" +
		"          [/reg:32 | /reg:64]\r\n\r\n",
	"ADD": "\r\nREG ADD KeyName [/v ValueName | /ve] [/t Type] [/s Separator] [/d Data] [/f]\r\n" +
		"        [/reg:32 | /reg:64]\r\n\r\n",
	"DELETE":  "\r\nREG DELETE KeyName [/v ValueName | /ve | /va] [/f] [/reg:32 | /reg:64]\r\n\r\n",
	"COPY":    "\r\nREG COPY KeyName1 KeyName2 [/s] [/f] [/reg:32 | /reg:64]\r\n\r\n",
	"COMPARE": "\r\nREG COMPARE KeyName1 KeyName2 [/v ValueName | /ve] [Output] [/s]\r\n            [/reg:32 | /reg:64]\r\n\r\n  Output    [/oa | /od | /os | /on]\r\n\r\n",
	"EXPORT":  "\r\nREG EXPORT KeyName FileName [/y] [/reg:32 | /reg:64]\r\n\r\n",
	"IMPORT":  "\r\nREG IMPORT FileName [/reg:32 | /reg:64]\r\n\r\n",
}
