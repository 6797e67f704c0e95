package ntlm

// The MS-WSMV framing's fixed lines (remote/wsmv), spelled out for the tests that cut frames apart.
const (
	boundaryLine    = "--Encrypted Boundary\r\n"
	boundaryEnd     = "--Encrypted Boundary--\r\n"
	octetStreamLine = "\tContent-Type: application/octet-stream\r\n"
)
