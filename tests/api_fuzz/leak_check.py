"""schemathesis hook file (SCHEMATHESIS_HOOKS): no error body the fuzzer sees holds a secret.

`run.py` writes the demo's secrets (each user's password and TOTP seed, the session tokens of
the runs, the key-encryption key) in the text forms they could take to the JSON file named by
REGISTERVAKT_FUZZ_LEAK_NEEDLES (mode 0600, in the run's temporary directory, removed after).
For every response with a status of 400 or more, the check below looks for each of them in
the body. A hit is appended to REGISTERVAKT_FUZZ_LEAK_REPORT as one line naming the kind of
secret, its form, the status and the operation, never the secret; the check does not raise,
because schemathesis would then print the response body, secret and all. `run.py` fails the
whole run if that file has any line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import schemathesis

_NEEDLES: list[tuple[str, bytes]] | None = None


def _needles() -> list[tuple[str, bytes]]:
    """(label, bytes) pairs, read once per schemathesis run."""
    global _NEEDLES
    if _NEEDLES is None:
        path = os.environ.get("REGISTERVAKT_FUZZ_LEAK_NEEDLES")
        entries = json.loads(Path(path).read_text()) if path else []
        _NEEDLES = [(e["label"], bytes.fromhex(e["hex"])) for e in entries]
    return _NEEDLES


@schemathesis.check
def error_bodies_hold_no_secret(ctx, response, case):
    """No registered secret in the body of a 4xx or 5xx response (SECURITY_BAR D6)."""
    if response.status_code < 400:
        return None
    body = response.content or b""
    found = sorted({label for label, needle in _needles() if needle in body})
    if found:
        report = os.environ["REGISTERVAKT_FUZZ_LEAK_REPORT"]
        with open(report, "a") as out:
            for label in found:
                out.write(f"{label} in the {response.status_code} body of {case.method} {case.path}\n")
    return None
