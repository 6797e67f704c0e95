$ProgressPreference='SilentlyContinue'
$ErrorActionPreference='Stop'
$cfg=@{url='https://contososensorapi.atp.azure.com/tri/sensor/api/ping';urlSource='sensor';timeoutMs=10000;sensorConfig='C:\Program Files\Azure Advanced Threat Protection Sensor\2.250.18972.18405\SensorConfiguration.json';roots=@('DF3C24F9BFD666761B268073FE06D1CC8D4F82A4','A8985D3A65E5E5C4B2D7D66D40C6DD2FB19C5436');routes=@(@{id='SENSOR';mode='sensor';proxy=''},@{id='CURRENT_USER';mode='system';proxy=''},@{id='LOCAL_SYSTEM';mode='proxy';proxy='proxy.corp.example:8080'},@{id='LOCAL_SERVICE';mode='proxy';proxy='proxy.corp.example:8080'},@{id='DIRECT';mode='direct';proxy=''})}
[Net.ServicePointManager]::SecurityProtocol=[Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
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
