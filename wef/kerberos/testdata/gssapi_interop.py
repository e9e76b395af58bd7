#!/usr/bin/python3
"""MIT GSSAPI peer for wefgate's Kerberos interoperability test.

Talks JSON lines on stdin/stdout with the Go test (base64 byte fields) and
plays either side of a WinRM-style Kerberos exchange with python-gssapi:

  initiator SPN CLIENT KEYTAB MECH N   MIT initiator, Go acceptor
  acceptor KEYTAB N                    MIT acceptor, Go initiator

MECH is "krb5" or "spnego". Sealed messages use wrap_iov/unwrap_iov with
HEADER+DATA(+PADDING) buffers, as OpenWEC and pywinrm do.
"""

import base64
import json
import sys

import gssapi
from gssapi.raw import ext_dce as dce

KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")
SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")


def send(**fields):
    out = {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in fields.items()}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


def receive():
    line = sys.stdin.readline()
    if not line:
        raise SystemExit("peer closed the pipe")
    return {k: base64.b64decode(v) if k in ("token", "sig", "data") else v for k, v in json.loads(line).items()}


def header_fields(header):
    return {
        "header_len": len(header),
        "flags": header[2],
        "ec": int.from_bytes(header[4:6], "big"),
        "rrc": int.from_bytes(header[6:8], "big"),
        "seq": int.from_bytes(header[8:16], "big"),
    }


def wrap(ctx, message):
    iov = dce.IOV(dce.IOVBufferType.header, message, dce.IOVBufferType.padding, std_layout=False)
    dce.wrap_iov(ctx, iov, confidential=True)
    header, data, padding = iov[0].value, iov[1].value, iov[2].value or b""
    return header, data, len(padding)


def unwrap(ctx, sig, data):
    iov = dce.IOV((dce.IOVBufferType.header, False, sig), data, std_layout=False)
    res = dce.unwrap_iov(ctx, iov)
    if not res.encrypted:
        raise SystemExit("peer message was not encrypted")
    return iov[1].value


def initiator(spn, client, keytab, mech, count):
    creds = gssapi.Credentials(
        name=gssapi.Name(client, gssapi.NameType.kerberos_principal),
        usage="initiate",
        store={"client_keytab": keytab, "ccache": "MEMORY:wefgate-interop"},
    )
    flags = (gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.confidentiality
             | gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.replay_detection
             | gssapi.RequirementFlag.out_of_sequence_detection)
    ctx = gssapi.SecurityContext(
        name=gssapi.Name(spn, gssapi.NameType.kerberos_principal),
        creds=creds, usage="initiate", mech=SPNEGO if mech == "spnego" else KRB5, flags=flags)
    send(token=ctx.step())
    reply = receive()
    ctx.step(reply["token"])
    if not ctx.complete:
        raise SystemExit("MIT initiator: context not complete after the AP-REP")
    for i in range(count):
        message = ("message %d from MIT \u00e4\u20ac" % i).encode("utf-16-le")
        header, data, padding = wrap(ctx, message)
        send(sig=header, data=data, padding=padding, plain=base64.b64encode(message).decode(), **header_fields(header))
        reply = receive()
        plain = unwrap(ctx, reply["sig"], reply["data"])
        send(data=plain)


def acceptor(keytab, count):
    creds = gssapi.Credentials(usage="accept", store={"keytab": keytab})
    ctx = gssapi.SecurityContext(creds=creds, usage="accept")
    token = ctx.step(receive()["token"])
    if not ctx.complete:
        raise SystemExit("MIT acceptor: context not complete after the AP-REQ")
    send(token=token or b"", initiator=str(ctx.initiator_name), flags=int(ctx.actual_flags))
    for i in range(count):
        msg = receive()
        plain = unwrap(ctx, msg["sig"], msg["data"])
        header, data, padding = wrap(ctx, b"reply to " + plain)
        send(sig=header, data=data, padding=padding, **header_fields(header))


def main():
    mode = sys.argv[1]
    try:
        if mode == "initiator":
            initiator(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
        elif mode == "acceptor":
            acceptor(sys.argv[2], int(sys.argv[3]))
        else:
            raise SystemExit("unknown mode " + mode)
    except gssapi.exceptions.GSSError as e:
        raise SystemExit("GSSAPI error: %s" % e)


if __name__ == "__main__":
    main()
