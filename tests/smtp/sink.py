#!/usr/bin/env python3
"""Loopback SMTP sink for Registervakt's mail tests (tests/it/smtp_support/mod.rs starts it).

    python3 tests/smtp/sink.py --port N --dir DIR [--auth USER:PASSWORD] [--no-smtputf8]

Listens on 127.0.0.1:N only, without TLS, and prints "ready" on stdout once it accepts
connections. Each message it receives becomes one file DIR/NNNNNN.eml, written under a
temporary name and then renamed, so a reader never sees half a file:

    MAIL FROM:<envelope sender>
    RCPT TO:<recipient>          (one line per envelope recipient)
    <empty line>
    <the message data exactly as received after DATA, CRLF line ends>

With --auth, every session must authenticate (PLAIN or LOGIN, allowed without TLS here)
with exactly these credentials before MAIL FROM. With --no-smtputf8 the server does not offer
SMTPUTF8 (RFC 6531), as many do not. The sink exits when its standard input
closes, so it never outlives the test process that started it.

Exit codes: 3 aiosmtpd missing, 4 the port could not be bound, 2 bad arguments.
"""

import argparse
import itertools
import logging
import os
import sys
import threading
import warnings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--auth", metavar="USER:PASSWORD")
    parser.add_argument("--no-smtputf8", action="store_true")
    args = parser.parse_args()

    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword
    except ImportError as err:
        print(
            f"sink.py: aiosmtpd is not installed ({err}); "
            "run: pip install -r tests/smtp/requirements.txt",
            file=sys.stderr,
        )
        return 3

    # Plain-text AUTH is the point of --auth here (loopback only): silence its warnings.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    os.makedirs(args.dir, exist_ok=True)

    class Sink:
        def __init__(self, directory: str) -> None:
            self.directory = directory
            self.seq = itertools.count(1)
            self.lock = threading.Lock()

        async def handle_DATA(self, server, session, envelope):
            with self.lock:
                n = next(self.seq)
            head = f"MAIL FROM:<{envelope.mail_from}>\n"
            head += "".join(f"RCPT TO:<{rcpt}>\n" for rcpt in envelope.rcpt_tos)
            head += "\n"
            data = envelope.original_content
            if data is None:
                data = envelope.content
            if isinstance(data, str):
                data = data.encode("utf-8", "surrogateescape")
            tmp = os.path.join(self.directory, f".{n:06d}.tmp")
            final = os.path.join(self.directory, f"{n:06d}.eml")
            with open(tmp, "wb") as f:
                f.write(head.encode("utf-8", "surrogateescape"))
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
            return "250 OK"

    smtp_kwargs = {}
    if args.auth is not None:
        user, sep, password = args.auth.partition(":")
        if not sep:
            print("sink.py: --auth must be USER:PASSWORD", file=sys.stderr)
            return 2
        want = LoginPassword(user.encode(), password.encode())

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data == want
            return AuthResult(success=ok, handled=False)

        smtp_kwargs = {
            "authenticator": authenticator,
            "auth_required": True,
            "auth_require_tls": False,
        }

    smtp_kwargs["enable_SMTPUTF8"] = not args.no_smtputf8
    controller = Controller(
        Sink(args.dir), hostname="127.0.0.1", port=args.port, **smtp_kwargs
    )
    try:
        controller.start()
    except OSError as err:
        print(f"sink.py: cannot listen on 127.0.0.1:{args.port}: {err}", file=sys.stderr)
        return 4
    print("ready", flush=True)
    try:
        # Block until the parent closes our stdin (or dies).
        while sys.stdin.buffer.read(4096):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
