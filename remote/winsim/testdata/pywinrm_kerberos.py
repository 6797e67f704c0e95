#!/usr/bin/python3
"""Runs commands through Debian's pywinrm 0.3.0 with requests-kerberos (transport='kerberos',
message_encryption='always') in ONE shell and prints a JSON object {"encrypted": bool, "out":
[{Stdout, Stderr (base64), Code}]}. Usage: pywinrm_kerberos.py ENDPOINT PRINCIPAL SPN_HOST CMD...
Credentials come from the ticket cache in KRB5CCNAME (kinit), krb5.conf from KRB5_CONFIG.

Debian's python3-kerberos 1.1.14 lacks authGSSWinRMEncryptMessage/DecryptMessage, which
requests-kerberos needs for WinRM message encryption. The shim maps them onto what it has:
authGSSClientWrapIov returns exactly the WinRM payload (LE32 header length | header | data) and
authGSSClientUnwrap takes header | data (see shared/reference/kerberos.md)."""
import base64, json, struct, sys

import kerberos


def _encrypt(ctx, message):
    kerberos.authGSSClientWrapIov(ctx, base64.b64encode(message).decode())
    raw = base64.b64decode(kerberos.authGSSClientResponse(ctx))
    n = struct.unpack("<I", raw[:4])[0]
    return raw[4 + n:], raw[4:4 + n]  # (sealed data, header) as requests-kerberos returns them


def _decrypt(ctx, message, header):
    kerberos.authGSSClientUnwrap(ctx, base64.b64encode(header + message).decode())
    return base64.b64decode(kerberos.authGSSClientResponse(ctx))


if not hasattr(kerberos, "authGSSWinRMEncryptMessage"):
    kerberos.authGSSWinRMEncryptMessage = _encrypt
    kerberos.authGSSWinRMDecryptMessage = _decrypt

from winrm.protocol import Protocol  # noqa: E402  (after the shim: requests-kerberos checks at import)

endpoint, principal, spn_host = sys.argv[1:4]
p = Protocol(endpoint=endpoint, transport="kerberos", username=principal, message_encryption="always",
             kerberos_hostname_override=spn_host, server_cert_validation="ignore")
shell = p.open_shell(codepage=65001)
out = []
for cmd in sys.argv[4:]:
    cid = p.run_command(shell, cmd)
    so, se, code = p.get_command_output(shell, cid)
    p.cleanup_command(shell, cid)
    out.append({"Stdout": base64.b64encode(so).decode(), "Stderr": base64.b64encode(se).decode(), "Code": code})
p.close_shell(shell)
print(json.dumps({"encrypted": bool(p.transport.encryption), "out": out}))
