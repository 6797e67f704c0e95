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
//   - Bypass entries are WinINet wildcards; WebProxy wants regular expressions matched against
//     "scheme://host[:port]", so each entry is escaped, '*' becomes '.*' and the whole is anchored.
//     "<local>" is BypassProxyOnLocal (approximate: .NET also treats hosts of the machine's own DNS
//     domain as local, WinINet only names without a dot).
//   - ASCII only, no aliases, no backticks, no here-strings.
const (
	scriptHead = "$ProgressPreference='SilentlyContinue'\n$ErrorActionPreference='Stop'\n"
	dataPrefix = "$cfg='"
	dataSuffix = "'|ConvertFrom-Json\n"
	scriptBody = `[Net.ServicePointManager]::SecurityProtocol=[Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
$out=New-Object -TypeName 'System.Collections.Generic.List[object]'
foreach($r in $cfg.routes){
$st=0;$er='';$msg='';$via='direct'
$sw=[Diagnostics.Stopwatch]::StartNew()
try{
$q=[Net.WebRequest]::Create($cfg.url)
$q.Timeout=$cfg.timeoutMs;$q.ReadWriteTimeout=$cfg.timeoutMs;$q.AllowAutoRedirect=$false;$q.KeepAlive=$false
if($r.mode -eq 'direct'){$q.Proxy=$null}else{
if($r.mode -eq 'proxy'){
$p=New-Object -TypeName Net.WebProxy -ArgumentList ('http://'+$r.proxy)
$bl=New-Object -TypeName 'System.Collections.Generic.List[string]'
foreach($b in $r.bypass){if($b -eq '<local>'){$p.BypassProxyOnLocal=$true}else{$bl.Add('^[a-z]+://'+([regex]::Escape($b) -replace '\\\*','.*')+'(:[0-9]+)?$')}}
$p.BypassList=$bl.ToArray()
}else{$p=[Net.WebRequest]::GetSystemWebProxy()}
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
$out.Add([pscustomobject]@{id=[string]$r.id;status=$st;error=$er;message=$msg;route=$via;ms=[int]$sw.ElapsedMilliseconds})
}
[Console]::Out.WriteLine((ConvertTo-Json -InputObject $out.ToArray() -Compress))
`
)
