#!/usr/bin/env python3
"""schemathesis against the demo, anonymous and as each role (SECURITY_BAR G1).

For each seed (two by default: CI runs both), starts `registervakt demo` on a free loopback
port with a fresh data dir, validates the description it serves against the OpenAPI 3.1
schema (`openapi-spec-validator`), signs in every demo user through the JSON API (password,
then a TOTP code computed here from the secret in `demo-users.txt`), and runs
`schemathesis run <base>/api/openapi.json` once per identity with every check (`--checks all`:
no 5xx, every status, content type, header and body as documented, schema-valid data
accepted, invalid data rejected, authentication enforced, resources available once created,
...) in every phase, the stateful one included: it follows the description's links from a
created extract through its life (approve, download, view, done, attest, revoke). Any failure
of any run, or a description that does not validate, fails the script (exit 1).

Leak scan (SECURITY_BAR D6): the demo users' passwords and TOTP seeds, the runs' session tokens
and the key-encryption key, in the text forms they could take, must be in none of the error
bodies schemathesis saw (the check in `leak_check.py`, loaded as a hook) and, after the demo
stopped, in none of the broker's own files: its log, its data dir (store, WAL, SHM) and its
checkpoint file. The register, the users file, the QR codes and the key file hold them by
design and are not scanned. A hit names the kind of secret and the place, never the secret,
and fails the script.

Usage: tests/api_fuzz/run.py [--binary target/debug/registervakt] [--max-examples N]
                             [--seed N [--seed N ...]] [--only anonymous,anna,...] [--keep]

The broker must already be built (`cargo build`; in .ci/run the earlier `cargo test` built
it). Reports (JUnit), each run's log and the description served are left in
target/api-fuzz/seed-N/.

Each seed gets a demo of its own: the runs of one seed change the demo (the administrator's
run freezes extracts and disables users; the fuzzer's wrong passwords count against the
address limit), so a second seed on the same demo would test what the first left behind.

Order matters, and it is chosen so that no run spoils a later one without leaving anything
out:
- every user signs in before any fuzzing: the fuzzer's wrong passwords and codes count
  against the per-address limit (50 per 15 min, SECURITY_BAR A4), which would otherwise
  refuse the later sign-ins with 429;
- then, still before any fuzzing, each user proves a fresh code again (step-up), so the
  operations that need a fresh second factor (B2) are reached, not just refused: the address
  limit holds at the code step too, so a step-up after the fuzzer's wrong codes would be
  refused as well; the demo keeps a proof fresh for an hour (`DEMO_ENV`), longer than the runs;
- then, as anna and cecilia with their approvers, extracts are made live, left pending and
  denied (`seed_extracts`), for the stateful phase to follow from `GET /api/v1/extracts`;
- the administrator runs last among the roles: the incident freeze, policy changes and
  disabling users are fuzzed too, and they would change what the others may do; disabling
  and resetting accounts come last of all (`ENDS_ACCOUNTS`), as they end the administrator's
  own session too;
- the anonymous run is last: it needs no session and is not affected by any of that.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT_ROOT = ROOT / "target" / "api-fuzz"
OUT = OUT_ROOT  # this seed's directory, set by main()
# The seeds CI runs: the long-standing one and a second, so a run that passes by the luck of
# one seed's choices does not pass twice.
SEEDS = [2026, 40913]
COOKIE = "registervakt"  # the demo serves plain HTTP on loopback: no `__Host-` prefix
PERIOD = 30

# Roles in the order their runs go (see the module doc for why elin is last).
USERS = ["anna", "cecilia", "bertil", "david", "farid", "elin"]

# Shorter values are not looked for: they would turn up by chance.
MIN_NEEDLE = 8

# Operations left out of the signed-in runs, and why. The anonymous run fuzzes all of them.
EXCLUDED_WHEN_SIGNED_IN = {
    # Ends the session the run signs in with: every later request of the run would be
    # anonymous and prove nothing about the role.
    "/api/v1/auth/logout": "ends the run's own session",
}

# Operations that end the sessions of the account they name. The fuzzer learns usernames from
# `GET /api/v1/users` and, as the administrator, disables or resets every account it saw, its
# own among them: every operation after that answered 401 and tested nothing. They get a run
# of their own, the administrator's last (`ADMIN`, label `elin-accounts`).
ENDS_ACCOUNTS = ["/api/v1/users/{username}/disable", "/api/v1/users/{username}/reset-2fa"]
ADMIN = "elin"


def totp(secret_b32: str, step: int) -> str:
    """RFC 6238 with SHA-1, 6 digits, 30 s steps (RFC 4226 §5.3 truncation)."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def read_users(path: Path) -> dict[str, dict[str, str]]:
    users: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in path.read_text().splitlines():
        m = re.match(r"^(\w+):\s+(.*)$", line)
        if not m:
            continue
        key, value = m.groups()
        if key == "username":
            current = {}
            users[value] = current
        elif current is not None:
            current[key] = value
    return users


# The runs of one seed take longer than the five minutes a second-factor proof stays fresh
# (SECURITY_BAR B2) and, for the last of them, close to the 15 idle minutes a session lives:
# every identity proves its code before any fuzzing (see the module doc), so without a longer
# window the later runs would reach every operation behind step-up only as 401. The demo is
# started with both at an hour; the windows themselves are tested in tests/it/sessions.rs.
DEMO_ENV = {
    "REGISTERVAKT_SESSIONS__STEP_UP_MAX_AGE_SECS": "3600",
    "REGISTERVAKT_SESSIONS__IDLE_TIMEOUT_SECS": "3600",
}


class Broker:
    """The demo as a child process, on a free loopback port."""

    def __init__(self, binary: Path, data_dir: Path, members: int) -> None:
        self.log = open(OUT / "demo.log", "w")
        self.proc = subprocess.Popen(
            [str(binary), "demo", "--members", str(members),
             "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env={**os.environ, **DEMO_ENV},
        )
        self.base = ""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 120
        for line in self.proc.stdout:
            self.log.write(line)
            m = re.search(r"serving on (http://[^/\s]+)/", line)
            if m:
                self.base = m.group(1)
                break
            if time.monotonic() > deadline:
                break
        # Keep draining stdout into the log so a chatty broker never blocks on a full pipe.
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()
        if not self.base:
            self.stop()
            sys.exit(f"the demo did not start; see {OUT / 'demo.log'}")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.write(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if hasattr(self, "drain"):
            self.drain.join(timeout=5)
        self.log.close()


def post(base: str, path: str, body: dict, cookie: str | None) -> tuple[int, dict, str | None]:
    req = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    if cookie:
        req.add_header("Cookie", f"{COOKIE}={cookie}")
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, raw, headers = res.status, res.read(), res.headers
    except urllib.error.HTTPError as e:
        status, raw, headers = e.code, e.read(), e.headers
    token = None
    for value in headers.get_all("Set-Cookie") or []:
        m = re.match(rf"{COOKIE}=([^;]*)", value)
        if m and m.group(1):
            token = m.group(1)
    try:
        parsed = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        parsed = {"raw": raw.decode(errors="replace")}
    return status, parsed, token


def get(base: str, path: str, cookie: str) -> tuple[int, dict]:
    req = urllib.request.Request(base + path, headers={"Cookie": f"{COOKIE}={cookie}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, json.loads(res.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, {}


# What the stateful phase starts from: for each staff member and the approver of the same
# district, extracts in the states the API answers differently for — live (approved and
# built), pending, and denied — so the links from `GET /api/v1/extracts` and from one extract
# lead to downloads, views, "I'm done", attestations, revocations and approvals that meet a
# real extract, and to the 409 and 410 of one in the wrong state. A whole-district request
# also raises a follow-up flag for the approvers and auditors to acknowledge.
SEED_EXTRACTS = [("anna", "bertil", "Uppsala"), ("cecilia", "david", "Skåne")]
# A purpose that always needs one approver (and two only for birth dates, not asked for here),
# so that a request waits for the approver; it also allows the browser view.
SEED_PURPOSE = "election-worker-recruitment"


def seed_extracts(base: str, idents: dict[str, "Identity"]) -> list[str]:
    """Makes the extracts of [`SEED_EXTRACTS`]; returns what it made, one line each."""
    made: list[str] = []
    for staff, approver, district in SEED_EXTRACTS:
        if staff not in idents or approver not in idents:
            continue
        body = {
            "purpose": SEED_PURPOSE, "district": district,
            "fields": ["first_name", "last_name", "phone"], "lifetime_minutes": 120,
            "justification": "Rekrytering av valarbetare (API-fuzzning).",
            "acknowledged": True,
        }
        for fate in ["live", "pending", "denied"]:
            status, created, _ = post(base, "/api/v1/extracts", body, idents[staff].token)
            if status != 201:
                sys.exit(f"seeding: {staff}'s request answered {status} {created}")
            ident = created["id"]
            if created["state"] == "pending" and fate == "live":
                decision = {"request_hash": created["request_hash"], "comment": "ok"}
                path = f"/api/v1/extracts/{ident}/approve"
            elif created["state"] == "pending" and fate == "denied":
                decision = {"comment": "Inte nu."}
                path = f"/api/v1/extracts/{ident}/deny"
            else:
                path = ""
            if path:
                status, answer, _ = post(base, path, decision, idents[approver].token)
                if status != 200:
                    sys.exit(f"seeding: {approver}'s decision answered {status} {answer}")
            state = created["state"]
            for _ in range(60):
                status, shown = get(base, f"/api/v1/extracts/{ident}", idents[staff].token)
                state = shown.get("state", state)
                if state not in ("building", "pending") or fate != "live":
                    break
                time.sleep(0.5)
            made.append(f"{staff}'s extract in {district}: {state}")
    return made


class Identity:
    """One demo user's session, and the last TOTP step it used (each code works once)."""

    def __init__(self, name: str, info: dict[str, str]) -> None:
        self.name, self.info = name, info
        self.token: str | None = None
        self.last_step = -1

    def prove_code(self, base: str) -> None:
        """Sends a code for a step this user has not used yet (waits for one if needed)."""
        step = int(time.time()) // PERIOD
        if step <= self.last_step:
            time.sleep((self.last_step + 1) * PERIOD - time.time() + 0.5)
            step = int(time.time()) // PERIOD
        status, body, token = post(base, "/api/v1/auth/totp",
                                   {"code": totp(self.info["secret"], step)}, self.token)
        if status != 200 or not token:
            sys.exit(f"{self.name}: the TOTP step answered {status} {body}")
        self.token, self.last_step = token, step

    def sign_in(self, base: str) -> None:
        status, body, token = post(base, "/api/v1/auth/login",
                                   {"username": self.name, "password": self.info["password"]}, None)
        if status != 200 or not token:
            sys.exit(f"{self.name}: sign-in answered {status} {body}")
        self.token = token
        self.prove_code(base)


def forms(kind: str, text: str | None = None, raw: bytes | None = None) -> list[tuple[str, bytes]]:
    """(label, bytes) for a secret: the text as is and URL-encoded, and its bytes (the text's,
    or `raw`) raw, in hex and in base64 and base64url without padding (the padded form
    contains it)."""
    out: list[tuple[str, bytes]] = []
    if text is not None:
        out += [(f"{kind} (as is)", text.encode()),
                (f"{kind} (URL-encoded)", urllib.parse.quote_plus(text).encode())]
    data = raw if raw is not None else (text or "").encode()
    if raw is not None:
        out.append((f"{kind} (raw bytes)", raw))
    out += [(f"{kind} (hex)", binascii.hexlify(data)),
            (f"{kind} (upper-case hex)", binascii.hexlify(data).upper()),
            (f"{kind} (base64)", base64.b64encode(data).rstrip(b"=")),
            (f"{kind} (base64url)", base64.urlsafe_b64encode(data).rstrip(b"="))]
    return [(label, value) for label, value in out if len(value) >= MIN_NEEDLE]


def secrets(users: dict[str, dict[str, str]], tokens: list[str], kek: Path) -> list[tuple[str, bytes]]:
    """Everything the leak scan looks for, with a label that never holds the value."""
    found: list[tuple[str, bytes]] = []
    for name, info in users.items():
        found += forms(f"{name}'s password", info["password"])
        seed = info["secret"].upper().rstrip("=")
        raw = base64.b32decode(seed + "=" * (-len(seed) % 8))
        found += forms(f"{name}'s TOTP seed", seed) + forms(f"{name}'s TOTP seed", raw=raw)
        found.append((f"{name}'s TOTP seed (lower case)", seed.lower().encode()))
    for i, token in enumerate(tokens):
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        found += forms(f"session token {i + 1}", token) + forms(f"session token {i + 1}", raw=raw)
    for line in kek.read_text().splitlines():
        if line.startswith("kek "):
            found += forms("the key-encryption key", raw=base64.b64decode(line.rsplit(" ", 1)[1]))
    unique: dict[bytes, str] = {}
    for label, value in found:
        unique.setdefault(value, label)
    return [(label, value) for value, label in unique.items()]


def write_needles(path: Path, needles: list[tuple[str, bytes]]) -> None:
    """The needles for `leak_check.py`, mode 0600 from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump([{"label": label, "hex": value.hex()} for label, value in needles], out)


def scan_files(needles: list[tuple[str, bytes]], roots: list[Path]) -> list[str]:
    """One line per (secret, file) found: every file below each root, each file given."""
    hits: list[str] = []
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            data = path.read_bytes()
            hits += [f"{label} in {path}" for label, value in needles if value in data]
    return hits


def config_file(label: str, signed_in: bool) -> Path:
    """The run's schemathesis.toml: the shared settings, and for a signed-in run the session
    cookie as the `session` security scheme's key (from the environment, never on disk), so
    schemathesis knows it is the credential: it leaves it out of the cases that test a missing
    one, and probes each operation without it and with a wrong one (`ignored_auth`)."""
    text = (HERE / "schemathesis.toml").read_text()
    if signed_in:
        text += '\n[auth.openapi.session]\napi_key = "${REGISTERVAKT_FUZZ_SESSION}"\n'
    path = OUT / f"{label}.schemathesis.toml"
    path.write_text(text)
    return path


def schemathesis(base: str, label: str, cookie: str | None, args: argparse.Namespace,
                 seed: int, needles: Path, only: list[str] | None = None,
                 leave_out: list[str] | None = None) -> int:
    """One schemathesis run; returns its exit code. Output goes to the terminal and a log."""
    cmd = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(config_file(label, cookie is not None)),
        "run", f"{base}/api/openapi.json",
        "--url", base,
        "--checks", "all",
        # No link leads to or from the account operations alone: their run has no stateful
        # phase to run (schemathesis counts one without links as an error).
        "--phases", "examples,coverage,fuzzing" if only else "examples,coverage,fuzzing,stateful",
        "--max-examples", str(args.max_examples),
        "--seed", str(seed),
        "--workers", "1",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--no-color",
        "--report", "junit",
        "--report-junit-path", str(OUT / f"{label}.junit.xml"),
    ]
    env = dict(os.environ)
    env["SCHEMATHESIS_HOOKS"] = str(HERE / "leak_check.py")
    env["REGISTERVAKT_FUZZ_LEAK_NEEDLES"] = str(needles)
    env["REGISTERVAKT_FUZZ_LEAK_REPORT"] = str(OUT / "error-body-leaks.txt")
    if cookie:
        env["REGISTERVAKT_FUZZ_SESSION"] = cookie
        for path in EXCLUDED_WHEN_SIGNED_IN:
            cmd += ["--exclude-path", path]
    for path in leave_out or []:
        cmd += ["--exclude-path", path]
    for path in only or []:
        cmd += ["--include-path", path]
    print(f"\n---- schemathesis as {label} ----", flush=True)
    started = time.monotonic()
    with open(OUT / f"{label}.log", "w") as log:
        # Run from OUT: schemathesis and hypothesis keep caches in the working directory.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, cwd=OUT)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        code = proc.wait()
    print(f"---- {label}: exit {code} in {time.monotonic() - started:.0f} s ----", flush=True)
    return code


def validate_description(base: str) -> list[str]:
    """The description the demo serves, checked against the OpenAPI 3.1 schema (and kept in
    this seed's directory); the problems found, none when it is valid."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    with urllib.request.urlopen(f"{base}/api/openapi.json", timeout=30) as res:
        raw = res.read()
    (OUT / "openapi.json").write_bytes(raw)
    spec = json.loads(raw)
    if not str(spec.get("openapi", "")).startswith("3.1"):
        return [f"the description says OpenAPI {spec.get('openapi')!r}, not 3.1"]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in OpenAPIV31SpecValidator(spec).iter_errors()]


def links_covered(label: str) -> str:
    """What the stateful phase of a run says it followed, from its log."""
    text = (OUT / f"{label}.log").read_text(errors="replace")
    m = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", text)
    return f"{m.group(1)}/{m.group(2)} links" if m else "no links"


def run_seed(args: argparse.Namespace, seed: int, wanted: list[str]) -> tuple[list[tuple[str, int, str]], list[str], list[str]]:
    """Every wanted run on a demo of its own; the results, the leaks and the description's
    problems."""
    data_dir = Path(tempfile.mkdtemp(prefix="registervakt-api-fuzz-"))
    demo = data_dir / "demo"
    needles_file = data_dir / "leak-needles.json"
    leak_report = OUT / "error-body-leaks.txt"
    leak_report.unlink(missing_ok=True)
    broker = Broker(args.binary, demo, args.members)
    results: list[tuple[str, int, str]] = []
    users: dict[str, dict[str, str]] = {}
    tokens: list[str] = []
    leaks: list[str] = []
    problems: list[str] = []
    try:
        problems = validate_description(broker.base)
        users = read_users(demo / "demo-users.txt")
        identities = [Identity(name, users[name]) for name in USERS if name in wanted]
        for ident in identities:
            ident.sign_in(broker.base)
            tokens.append(ident.token or "")
        for ident in identities:
            ident.prove_code(broker.base)
            tokens.append(ident.token or "")
        seeded = seed_extracts(broker.base, {i.name: i for i in identities})
        print("\n".join(["seeded for the stateful phase:"] + seeded), flush=True)
        for ident in identities:
            write_needles(needles_file, secrets(users, tokens, demo / "keys" / "kek.key"))
            leave_out = ENDS_ACCOUNTS if ident.name == ADMIN else []
            code = schemathesis(broker.base, ident.name, ident.token, args, seed, needles_file,
                                leave_out=leave_out)
            results.append((ident.name, code, links_covered(ident.name)))
            if ident.name == ADMIN:
                label = f"{ADMIN}-accounts"
                code = schemathesis(broker.base, label, ident.token, args, seed, needles_file,
                                    only=ENDS_ACCOUNTS)
                results.append((label, code, links_covered(label)))
        if "anonymous" in wanted:
            write_needles(needles_file, secrets(users, tokens, demo / "keys" / "kek.key"))
            code = schemathesis(broker.base, "anonymous", None, args, seed, needles_file)
            results.append(("anonymous", code, links_covered("anonymous")))
    finally:
        broker.stop()
        if users:
            needles = secrets(users, tokens, demo / "keys" / "kek.key")
            leaks = scan_files(needles, [OUT / "demo.log", demo / "data",
                                         demo / "keys" / "audit-checkpoints.log"])
        if leak_report.exists():
            leaks += leak_report.read_text().splitlines()
        if args.keep:
            print(f"data dir kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return results, leaks, problems


def main() -> int:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, default=ROOT / "target" / "debug" / "registervakt")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("API_FUZZ_EXAMPLES", "25")))
    parser.add_argument("--seed", type=int, action="append",
                        help=f"a seed to run (repeatable; default: {' and '.join(map(str, SEEDS))})")
    parser.add_argument("--only", default="", help="comma-separated identities (anonymous, anna, ...)")
    parser.add_argument("--keep", action="store_true", help="keep the demo's data dir")
    args = parser.parse_args()
    if not args.binary.is_file():
        sys.exit(f"{args.binary} is missing: run `cargo build` first")
    env_seeds = [int(s) for s in os.environ.get("API_FUZZ_SEEDS", "").split(",") if s.strip()]
    seeds = args.seed or env_seeds or SEEDS
    wanted = [w for w in args.only.split(",") if w] or USERS + ["anonymous"]

    started = time.monotonic()
    ok = True
    summary: list[str] = []
    for seed in seeds:
        OUT = OUT_ROOT / f"seed-{seed}"
        OUT.mkdir(parents=True, exist_ok=True)
        seed_started = time.monotonic()
        results, leaks, problems = run_seed(args, seed, wanted)
        ok = ok and bool(results) and all(code == 0 for _, code, _ in results)
        ok = ok and not leaks and not problems
        summary.append(f"seed {seed} ({time.monotonic() - seed_started:.0f} s, {OUT}):")
        summary.append(f"  OpenAPI 3.1    {'valid' if not problems else f'INVALID ({len(problems)} problems)'}"
                       f" (openapi-spec-validator)")
        summary += [f"    {p}" for p in problems[:20]]
        for label, code, links in results:
            summary.append(f"  {label:14} {'ok' if code == 0 else f'FAILED (exit {code})'}"
                           f"  (stateful phase: {links})")
        summary.append(f"  leak scan      {'ok' if not leaks else f'FAILED ({len(leaks)} hits)'}"
                       f" (error bodies, the demo's log, data dir and checkpoint file)")
        summary += [f"    {line}" for line in leaks]

    print("\n==== api fuzz summary ====")
    print("\n".join(summary))
    print(f"  {len(seeds)} seeds ({', '.join(map(str, seeds))}), {args.max_examples} examples per "
          f"operation, {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
