$ProgressPreference='SilentlyContinue'
$ErrorActionPreference='Stop'
$cfg='{"url":"https://contososensorapi.atp.azure.com/tri/sensor/api/ping","timeoutMs":10000,"routes":[{"id":"CURRENT_USER","mode":"system","proxy":"","bypass":[]},{"id":"LOCAL_SYSTEM","mode":"proxy","proxy":"proxy.corp.example:8080","bypass":["<local>","*.corp.example","10.*"]},{"id":"LOCAL_SERVICE","mode":"direct","proxy":"","bypass":[]}]}'|ConvertFrom-Json
[Net.ServicePointManager]::SecurityProtocol=[Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
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
