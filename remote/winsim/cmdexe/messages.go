package cmdexe

import "fmt"

// msgs holds the cmd.exe texts of one display language. Every text ends in CRLF as cmd.exe writes it.
type msgs struct {
	notRecognized string // %s = the command token as typed
	tooLong       string
	echoOn        string
	echoOff       string
	mkdirExists   string // %s = the argument as typed
	syntax        string
	fileNotFound  string
	pathNotFound  string
	accessDenied  string
	badName       string
}

// Sources: en-US texts are the well-known cmd.exe messages; the de-DE texts of "not recognized" and
// "Syntaxfehler." are from a German cmd.exe.mui message table (file-info.xyz, cmd.exe.mui of Windows 10).
var locales = map[string]*msgs{
	"en-US": {
		notRecognized: "'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n",
		tooLong:       "The command line is too long.\r\n",
		echoOn:        "ECHO is on.\r\n",
		echoOff:       "ECHO is off.\r\n",
		mkdirExists:   "A subdirectory or file %s already exists.\r\n",
		syntax:        "The syntax of the command is incorrect.\r\n",
		fileNotFound:  "The system cannot find the file specified.\r\n",
		pathNotFound:  "The system cannot find the path specified.\r\n",
		accessDenied:  "Access is denied.\r\n",
		badName:       "The filename, directory name, or volume label syntax is incorrect.\r\n",
	},
	"de-DE": {
		notRecognized: "Der Befehl \"%s\" ist entweder falsch geschrieben oder\r\nkonnte nicht gefunden werden.\r\n",
		// unverified: German text of "The command line is too long." (not found in a source).
		tooLong: "Die Befehlszeile ist zu lang.\r\n",
		// unverified: German ECHO state texts (from memory of German Windows consoles).
		echoOn:  "ECHO ist eingeschaltet (ON).\r\n",
		echoOff: "ECHO ist ausgeschaltet (OFF).\r\n",
		// unverified: German mkdir text (from memory of German Windows consoles).
		mkdirExists:  "Ein Unterverzeichnis oder eine Datei mit dem Namen \"%s\" existiert bereits.\r\n",
		syntax:       "Syntaxfehler.\r\n",
		fileNotFound: "Das System kann die angegebene Datei nicht finden.\r\n",
		pathNotFound: "Das System kann den angegebenen Pfad nicht finden.\r\n",
		// unverified: German ERROR_ACCESS_DENIED text has no final period.
		accessDenied: "Zugriff verweigert\r\n",
		badName:      "Die Syntax für den Dateinamen, Verzeichnisnamen oder die Datenträgerbezeichnung ist falsch.\r\n",
	},
}

// notSimulatedText is what the simulator writes to stderr for a construct it does not implement.
func notSimulatedText(what string) string {
	return fmt.Sprintf("winsim: cmd.exe construct %q is not simulated\r\n", what)
}
