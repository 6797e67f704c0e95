$dcproxyStdin=[Console]::In.ReadToEnd();if($dcproxyStdin.Trim()){Invoke-Expression -Command $dcproxyStdin}
