#!/usr/bin/env python3
"""Recompute Registervakt's audit hash chain from `registervakt audit export --format jsonl`.

    registervakt audit export --config /etc/registervakt/registervakt.toml --format jsonl --out log.jsonl
    python3 docs/verify-chain.py log.jsonl        (or: ... | python3 docs/verify-chain.py -)

Needs only Python 3's standard library, and nothing of Registervakt's: the recipe is in
docs/operations.md, "The audit chain's recipe". Exit 0 and "chain intact: N entries, head
HASH" when every entry's hash is recomputed and each links to the one before; exit 1 naming
the first entry that does not; exit 2 when the input is not an export.

An export of the whole log starts at entry 1, whose prev_hash must be the genesis hash. An
export of a time window starts later: its first prev_hash is taken as given (say so with
--window), and the head it prints can be compared with a signed checkpoint.
"""

import hashlib
import json
import struct
import sys

DOMAIN = b"registervakt/audit/v1\0"
GENESIS = "0" * 64
TEXT_FIELDS = ("actor", "action", "target", "outcome", "details", "prev_hash")


def entry_hash(entry: dict) -> str:
    """SHA-256 over the domain tag, seq and occurred_at as 8-byte big-endian signed integers,
    then each text field as its UTF-8 length (8-byte big-endian) followed by its bytes."""
    h = hashlib.sha256(DOMAIN)
    h.update(struct.pack(">q", entry["seq"]))
    h.update(struct.pack(">q", entry["occurred_at"]))
    for name in TEXT_FIELDS:
        data = entry[name].encode("utf-8")
        h.update(struct.pack(">Q", len(data)))
        h.update(data)
    return h.hexdigest()


def main(argv: list) -> int:
    args = [a for a in argv[1:] if a != "--window"]
    window = "--window" in argv[1:]
    if len(args) != 1:
        print("usage: verify-chain.py [--window] EXPORT.jsonl (or - for standard input)",
              file=sys.stderr)
        return 2
    stream = sys.stdin if args[0] == "-" else open(args[0], encoding="utf-8")
    prev = None
    count = 0
    with stream:
        for number, line in enumerate(stream, start=1):
            try:
                entry = json.loads(line)
                seq = entry["seq"]
                for name in TEXT_FIELDS + ("entry_hash",):
                    if not isinstance(entry[name], str):
                        raise TypeError(name)
                if not isinstance(seq, int) or not isinstance(entry["occurred_at"], int):
                    raise TypeError("seq")
            except (ValueError, KeyError, TypeError) as err:
                print(f"line {number} is not an audit export entry ({err})", file=sys.stderr)
                return 2
            if prev is None:
                if seq != 1 and not window:
                    print(f"the export starts at entry {seq}, not 1: pass --window for "
                          "an export of a time window", file=sys.stderr)
                    return 1
                if seq == 1 and entry["prev_hash"] != GENESIS:
                    print("entry 1 does not start from the genesis hash", file=sys.stderr)
                    return 1
            else:
                if seq != prev_seq + 1 and not window:
                    print(f"entry {prev_seq + 1} is missing (entry {seq} follows "
                          f"entry {prev_seq})", file=sys.stderr)
                    return 1
                if seq <= prev_seq:
                    print(f"entry {seq} follows entry {prev_seq}", file=sys.stderr)
                    return 1
                if entry["prev_hash"] != prev and seq == prev_seq + 1:
                    print(f"entry {seq} does not link to entry {prev_seq}", file=sys.stderr)
                    return 1
            if entry_hash(entry) != entry["entry_hash"]:
                print(f"entry {seq} was changed: its hash does not match", file=sys.stderr)
                return 1
            prev, prev_seq = entry["entry_hash"], seq
            count += 1
    if prev is None:
        print("the export holds no entries", file=sys.stderr)
        return 2
    print(f"chain intact: {count} entries through entry {prev_seq}, head {prev}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
