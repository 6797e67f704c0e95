#!/usr/bin/python3
"""Runs commands through Debian's pywinrm 0.3.0 in ONE shell and prints a JSON list of
{Stdout, Stderr (base64), Code}. Usage: pywinrm_run.py ENDPOINT TRANSPORT USER CODEPAGE CMD...
The password comes from WINRM_TEST_PASSWORD, never from argv."""
import base64, json, os, sys
from winrm.protocol import Protocol

endpoint, transport, user, codepage = sys.argv[1:5]
p = Protocol(endpoint=endpoint, transport=transport, username=user,
             password=os.environ["WINRM_TEST_PASSWORD"], server_cert_validation="ignore",
             message_encryption="auto")
shell = p.open_shell(codepage=int(codepage))
out = []
for cmd in sys.argv[5:]:
    cid = p.run_command(shell, cmd)
    so, se, code = p.get_command_output(shell, cid)
    p.cleanup_command(shell, cid)
    out.append({"Stdout": base64.b64encode(so).decode(), "Stderr": base64.b64encode(se).decode(), "Code": code})
p.close_shell(shell)
print(json.dumps(out))
