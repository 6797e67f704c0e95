# MIT GSS-API peer for remote/krb tests, through Debian's python3-kerberos (pykerberos).
# Line protocol on stdin/stdout, tokens in base64:
#   client SERVICE@HOST: prints the AP-REQ token; reads the reply token; then serves
#       "wrap <b64 plain>"   -> "<b64 of LE32 header length | header | data>" (authGSSClientWrapIov)
#       "unwrap <b64 tok>"   -> "<b64 plain>" (authGSSClientUnwrap of header|data)
#   server SERVICE@HOST: reads the AP-REQ token; prints "<user> <b64 reply token>"
# Errors print "ERR <message>" and exit 1.
import base64
import sys

import kerberos


def out(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()


def main():
    mode, service = sys.argv[1], sys.argv[2]
    try:
        if mode == "client":
            flags = (kerberos.GSS_C_MUTUAL_FLAG | kerberos.GSS_C_SEQUENCE_FLAG |
                     kerberos.GSS_C_CONF_FLAG | kerberos.GSS_C_INTEG_FLAG)
            _, ctx = kerberos.authGSSClientInit(service, gssflags=flags)
            kerberos.authGSSClientStep(ctx, "")
            out(kerberos.authGSSClientResponse(ctx))
            reply = sys.stdin.readline().strip()
            kerberos.authGSSClientStep(ctx, reply)
            out("OK")
            for line in sys.stdin:
                cmd, arg = line.split()
                if cmd == "wrap":
                    kerberos.authGSSClientWrapIov(ctx, arg)
                    out(kerberos.authGSSClientResponse(ctx))
                elif cmd == "unwrap":
                    kerberos.authGSSClientUnwrap(ctx, arg)
                    out(kerberos.authGSSClientResponse(ctx) or "")
        else:
            _, ctx = kerberos.authGSSServerInit(service)
            tok = sys.stdin.readline().strip()
            kerberos.authGSSServerStep(ctx, tok)
            out(kerberos.authGSSServerUserName(ctx) + " " + (kerberos.authGSSServerResponse(ctx) or ""))
    except kerberos.GSSError as e:
        out("ERR " + repr(e))
        sys.exit(1)


main()
