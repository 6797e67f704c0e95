package winrmclient

// soapContentType is the Content-Type of an unsealed SOAP request, as masterzen sends it. Sealed
// requests (NTLM: remote/ntlm's Seal and Open; Kerberos: kerberos.go) go as
// ntlm.EncryptedContentType.
const soapContentType = "application/soap+xml;charset=UTF-8"
