package probe

// The script is scriptHead + dataPrefix + <json, ' doubled> + dataSuffix + scriptBody.
//
// Windows PowerShell 5.1 notes for whoever edits the body:
//   - GetResponse() throws a MethodInvocationException whose InnerException is the WebException; the
//     catch block unwraps InnerException until it finds one. A 503 or 407 is a WebException with
//     Status ProtocolError and a Response that carries the status code.
//   - ConvertTo-Json -InputObject keeps a one-element array an array (piping would unroll it), and
//     the array comes from List.ToArray(), not from the pipeline, so it is not PSObject-wrapped (5.1
//     would then emit {"value":[...],"Count":n}).
//   - [pscustomobject]@{...} keeps the key order. 5.1's ConvertTo-Json (JavaScriptSerializer) escapes
//     < > & ' as \u003c \u003e \u0026 \u0027.
//   - [Console]::Out.WriteLine bypasses the formatter, so the JSON line is never wrapped at the
//     console width.
//   - Routes carry no bypass list: dcproxy decides on the client whether the account's bypass list
//     matches the URL's host (wininet.Bypassed) and sends such a route as direct. An explicit proxy
//     route is therefore a WebProxy without a bypass list (and BypassProxyOnLocal false).
//   - Proof of TLS: each request gets its own ServerCertificateValidationCallback (a per-request
//     property since .NET 4.5; ServicePoint.Certificate is shared between requests and stale). The
//     callback records that a server certificate was seen and its Subject and Issuer (non-printable
//     or non-ASCII characters replaced by '?') in the hashtable $t of the current route, and returns
//     the normal verdict (SslPolicyErrors None), so an untrusted certificate still fails with
//     TrustFailure. A proxy that answers the CONNECT itself (407, or 503 from a blocking proxy)
//     produces a status without any certificate: tls stays false.
//     unverified: PowerShell runs a scriptblock delegate on the thread that invokes it; synchronous
//     GetResponse performs the handshake on the calling thread, so the callback has a runspace and
//     sees $t through dynamic scoping (it runs in a child scope of the loop's scope).
//   - ASCII only, no aliases, no backticks, no here-strings.
const (
	scriptHead = "$ProgressPreference='SilentlyContinue'\n$ErrorActionPreference='Stop'\n"
	dataPrefix = "$cfg='"
	dataSuffix = "'|ConvertFrom-Json\n"
	scriptBody = `[Net.ServicePointManager]::SecurityProtocol=[Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
$out=New-Object -TypeName 'System.Collections.Generic.List[object]'
$cb={param($s,$c,$ch,$e)
$t.tls=$true
if($null -ne $c){$t.subject=([string]$c.Subject) -replace '[^ -~]','?';$t.issuer=([string]$c.Issuer) -replace '[^ -~]','?'}
return ($e -eq [Net.Security.SslPolicyErrors]::None)
}
foreach($r in $cfg.routes){
$st=0;$er='';$msg='';$via='direct';$t=@{tls=$false;subject='';issuer=''}
$sw=[Diagnostics.Stopwatch]::StartNew()
try{
$q=[Net.WebRequest]::Create($cfg.url)
$q.Timeout=$cfg.timeoutMs;$q.ReadWriteTimeout=$cfg.timeoutMs;$q.AllowAutoRedirect=$false;$q.KeepAlive=$false
$q.ServerCertificateValidationCallback=$cb
if($r.mode -eq 'direct'){$q.Proxy=$null}else{
if($r.mode -eq 'proxy'){$p=New-Object -TypeName Net.WebProxy -ArgumentList ('http://'+$r.proxy)}else{$p=[Net.WebRequest]::GetSystemWebProxy()}
$p.Credentials=[Net.CredentialCache]::DefaultCredentials
$q.Proxy=$p
if(-not $p.IsBypassed($q.RequestUri)){$u=$p.GetProxy($q.RequestUri);$via='proxy '+$u.Host+':'+$u.Port}
}
$rs=$q.GetResponse();$st=[int]$rs.StatusCode;$rs.Close()
}catch{
$x=$_.Exception
while($x -isnot [Net.WebException] -and $null -ne $x.InnerException){$x=$x.InnerException}
if($x -is [Net.WebException]){$er=[string]$x.Status;if($null -ne $x.Response){$st=[int]$x.Response.StatusCode;$x.Response.Close()}}else{$er=$x.GetType().Name}
$msg=[string]$x.Message
}
$out.Add([pscustomobject]@{id=[string]$r.id;status=$st;error=$er;message=$msg;route=$via;tls=[bool]$t.tls;subject=[string]$t.subject;issuer=[string]$t.issuer;ms=[int]$sw.ElapsedMilliseconds})
}
[Console]::Out.WriteLine((ConvertTo-Json -InputObject $out.ToArray() -Compress))
`
)
