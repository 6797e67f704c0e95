package probe

// The script is scriptHead + the data line (appendDataLine) + "\n" + scriptBody.
//
// Windows PowerShell 5.1 notes for whoever edits the body (the body is compact on purpose: with 16
// routes, a 260-character sensor path and 3 roots the encoded command must stay under cmd.exe's
// 8191 characters, and every script character costs 8/3 of them):
//   - Order: TLS 1.2 on; the sensor's SensorConfiguration.json ($s, an [ordered] dictionary so the
//     output keeps its key order); the URL (given, the JSON's endpoint, or OnboardingInfo's
//     geoLocationUrl + cnc/identity/api); the roots ($k); each route resolved to 'direct' or
//     'proxy host:port' ($v) on the host; one request per distinct resolution ($g), all at the same
//     time; one JSON line.
//   - SensorConfiguration.json: read with ReadAllText and ConvertFrom-Json inside try/catch, and
//     only Url, UserName, Address and Port are copied out, plus whether EncryptedUserPasswordData is
//     non-null. The encrypted bytes, their thumbprint and any exception message are never copied:
//     5.1's ConvertFrom-Json (JavaScriptSerializer) puts the text around a syntax error into its
//     message, which for a damaged file could be the encrypted password. The error is a code:
//     NotFound, Unreadable or NotJson (a missing Port that does not convert to an int is NotJson).
//   - Requests: $w is one request; it runs synchronously (HttpWebRequest.GetResponse()) so that
//     its per-request ServerCertificateValidationCallback runs on the thread of the runspace that
//     made the request (5.1 runs a scriptblock delegate only on a thread with a runspace; async
//     requests would call it on a pool thread and fail). With two or more distinct resolutions each
//     runs in its own runspace of a RunspacePool (AddScript takes the text of $w, so the scriptblock
//     belongs to the pool's runspace); one runs inline (no pool to open).
//     unverified: the callback sees $t through dynamic scoping (it runs in a child scope of $w).
//   - GetResponse() throws a MethodInvocationException whose InnerException is the WebException;
//     the catch unwraps InnerException until it finds one. A 503, 407 or 401 is a WebException with
//     Status ProtocolError and a Response that carries the status code.
//   - Proof of TLS: the callback records that a server certificate was seen and its Subject and
//     Issuer (non-printable or non-ASCII characters replaced by '?') and returns the normal verdict
//     (SslPolicyErrors None), so an untrusted certificate still fails with TrustFailure. A proxy
//     that answers the CONNECT itself (407, 401, 403, 503) produces a status without a certificate.
//   - Routes carry no bypass list: dcproxy decides on the client whether an account's list matches
//     the URL's host (wininet.Bypassed) and sends such a route as direct. Every proxied request uses
//     a WebProxy of the resolved address WITHOUT credentials: the probe presents what the sensor
//     presents (LocalService goes out anonymously), never the connecting admin's own credentials,
//     which would pass a proxy the sensor cannot. A proxy that wants credentials answers 407, and
//     the caller says who would authenticate (LocalSystem as the computer account, not verified).
//   - Body of a 200: its first line, '?' for non-printable characters, at most 64 characters.
//   - Output: [pscustomobject]@{...} keeps the key order; results come from List.ToArray(), not
//     from the pipeline, so 5.1 does not emit {"value":[...],"Count":n}. 5.1's ConvertTo-Json
//     (JavaScriptSerializer) escapes < > & ' and control characters as \u00XX; the final
//     [regex]::Replace escapes every other character outside printable ASCII the same way, so the
//     line is ASCII whatever the console code page. [Console]::Out.WriteLine bypasses the formatter
//     (no wrapping at the console width).
//   - ASCII only, no aliases, no backticks, no here-strings, no double quotes, no percent signs;
//     every line end is a valid ';' (no line starts with catch/else), so Inline gives the same script.
//   - unverified (no Windows host here; tree-sitter checks syntax only): the inline script passed by
//     cmd.exe to powershell.exe -Command unchanged; '{param(...);...}' on one line; a scriptblock as
//     [regex]::Replace's MatchEvaluator; 5.1's ConvertTo-Json of [ordered] dictionaries in key order;
//     $o.status on a hashtable that EndInvoke returns wrapped in a PSObject.
const (
	scriptHead = "$ProgressPreference='SilentlyContinue'\n$ErrorActionPreference='Stop'\n"
	dataPrefix = "$cfg=@{"
	scriptBody = `[Net.ServicePointManager]::SecurityProtocol=[Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
$url=$cfg.url;$from='given';$s=$null;$k=[ordered]@{};$g=[ordered]@{};$l=@();$n=0
if($cfg.sensorConfig){$s=[ordered]@{found=$false;error='NotFound';proxyUrl='';proxyUser='';credentials=$false;address='';port=0}
try{if(Test-Path -LiteralPath $cfg.sensorConfig -PathType Leaf){$s.error='Unreadable';$j=[IO.File]::ReadAllText($cfg.sensorConfig);$s.error='NotJson';$j=ConvertFrom-Json -InputObject $j;if($null -eq $j){throw}
$p=$j.SensorProxyConfiguration;$e=$j.WorkspaceApplicationSensorApiWebClientConfigurationServiceEndpoint
$s.port=[int]$e.Port;$s.proxyUrl=[string]$p.Url;$s.proxyUser=[string]$p.UserName;$s.credentials=$null -ne $p.EncryptedUserPasswordData;$s.address=[string]$e.Address;$s.found=$true;$s.error=''}}catch{}}
if($cfg.urlSource -eq 'sensor' -and $s.address){$url='https://'+$s.address;if($s.port -and $s.port -ne 443){$url+=':'+$s.port};$url+='/tri/sensor/api/ping';$from='sensor'}
if($cfg.urlSource -eq 'mde'){try{$j=ConvertFrom-Json -InputObject (Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows Advanced Threat Protection').OnboardingInfo;$j=(ConvertFrom-Json -InputObject $j.body).geoLocationUrl;if($j){$url=$j+'cnc/identity/api';$from='mde'}}catch{}}
foreach($h in $cfg.roots){$k[$h]=Test-Path -LiteralPath ('Cert:\LocalMachine\Root\'+$h)}
foreach($r in $cfg.routes){$v='direct';$e='';$p=$null;$y=''
try{if($r.mode -eq 'sensor'){if($s.proxyUrl){$p=[Net.WebProxy]::new($s.proxyUrl)}else{$e='NoSensorProxy'}}
if($r.mode -eq 'proxy'){$p=[Net.WebProxy]::new('http://'+$r.proxy)}
if($r.mode -eq 'system'){$p=[Net.WebRequest]::GetSystemWebProxy()}
if($p -and -not $p.IsBypassed($url)){$y=$p.GetProxy($url);$v='proxy '+$y.Host+':'+$y.Port}}catch{$x=$_.Exception;if($x.InnerException){$x=$x.InnerException};$e=$x.GetType().Name}
if(-not $e -and -not $g[$v]){$n++;$g[$v]=@{n=$n;x=[string]$y}}
$l+=,@($r.id,$v,$e)}
$w={param($u,$x,$ms)
$t=@{tls=$false;subject='';issuer=''};$o=@{status=0;error='';message='';body=''};$sw=[Diagnostics.Stopwatch]::StartNew()
try{$q=[Net.WebRequest]::Create($u)
$q.Timeout=$ms;$q.ReadWriteTimeout=$ms;$q.AllowAutoRedirect=$false;$q.KeepAlive=$false;$q.Proxy=$null
$q.ServerCertificateValidationCallback={param($a,$c,$ch,$e)
$t.tls=$true
if($null -ne $c){$t.subject=([string]$c.Subject) -replace '[^ -~]','?';$t.issuer=([string]$c.Issuer) -replace '[^ -~]','?'}
return ($e -eq [Net.Security.SslPolicyErrors]::None)}
if($x){$q.Proxy=[Net.WebProxy]::new($x)}
$rs=$q.GetResponse();$o.status=[int]$rs.StatusCode
if($o.status -eq 200){$b=[IO.StreamReader]::new($rs.GetResponseStream()).ReadLine() -replace '[^ -~]','?';$o.body=$b.Substring(0,[Math]::Min(64,$b.Length))}
$rs.Close()}catch{$z=$_.Exception
while($z -isnot [Net.WebException] -and $null -ne $z.InnerException){$z=$z.InnerException}
if($z -is [Net.WebException]){$o.error=[string]$z.Status;if($null -ne $z.Response){$o.status=[int]$z.Response.StatusCode;$z.Response.Close()}}else{$o.error=$z.GetType().Name}
$o.message=[string]$z.Message}
$o.tls=$t.tls;$o.subject=$t.subject;$o.issuer=$t.issuer;$o.ms=[int]$sw.ElapsedMilliseconds;$o}
if($n -gt 1){$rp=[RunspaceFactory]::CreateRunspacePool(1,$n);$rp.Open()}
foreach($j in $g.Values){if($n -gt 1){$j.ps=[PowerShell]::Create().AddScript($w).AddArgument($url).AddArgument($j.x).AddArgument($cfg.timeoutMs);$j.ps.RunspacePool=$rp;$j.h=$j.ps.BeginInvoke()}else{$j.o=& $w $url $j.x $cfg.timeoutMs}}
foreach($j in $g.Values){if($j.ps){$j.o=$j.ps.EndInvoke($j.h)[0]}}
$out=New-Object -TypeName 'System.Collections.Generic.List[object]'
foreach($a in $l){$o=@{status=0;error=$a[2];message='';tls=$false;subject='';issuer='';body='';ms=0};$q=0
if(-not $a[2]){$o=$g[$a[1]].o;$q=$g[$a[1]].n}
$out.Add([pscustomobject]@{id=[string]$a[0];q=$q;status=[int]$o.status;error=[string]$o.error;message=[string]$o.message;route=$a[1];tls=[bool]$o.tls;subject=[string]$o.subject;issuer=[string]$o.issuer;body=[string]$o.body;ms=[int]$o.ms})}
$j=ConvertTo-Json -InputObject ([pscustomobject]@{url=$url;from=$from;sensor=$s;roots=$k;results=$out.ToArray()}) -Compress -Depth 4
[Console]::Out.WriteLine([regex]::Replace($j,'[^ -~]',{param($m)'\u{0:x4}' -f [int][char]$m.Value}))
`
)
