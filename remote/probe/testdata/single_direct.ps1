$ProgressPreference='SilentlyContinue'
$ErrorActionPreference='Stop'
$cfg='{"url":"https://triprd1wcuse1sensorapi.eastus.cloudapp.azure.com","timeoutMs":5000,"routes":[{"id":"LOCAL_SERVICE","mode":"direct","proxy":""}]}'|ConvertFrom-Json
[Net.ServicePointManager]::SecurityProtocol=[Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
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
