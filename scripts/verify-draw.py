#!/usr/bin/env python3
"""Checks a queue's opening draw from what the queue service publishes.

A fan checks their own draw key:
    scripts/verify-draw.py http://localhost:8080 tour-2026 --user alice

An auditor checks the whole draw (every entrant's key and place, read from
the admin export a page at a time):
    ADMIN_API_KEY=... scripts/verify-draw.py http://localhost:8080 tour-2026 --all

What is checked: SHA-256(seed) equals the commitment published before the
first join; each key is HMAC-SHA256(seed bytes, UTF-8 user id); entrants
are in ascending order of the key's first 52 bits, ties by user id
bytewise; places run 1, 2, 3, ... Exit status 0 when everything holds.
Only the Python standard library is used.
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
import urllib.error
import urllib.request


def get(url, admin_key=None):
    request = urllib.request.Request(url)
    if admin_key:
        request.add_header("Authorization", f"Bearer {admin_key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        fail(f"{url} answered {err.code}: {err.read().decode(errors='replace')[:500]}")


def draw_key(seed, user_id):
    return hmac.new(seed, user_id.encode("utf-8"), hashlib.sha256).digest()


def order_of(key, user_id):
    return (int.from_bytes(key[:8], "big") >> 12, user_id.encode("utf-8"))


def fail(message):
    print(f"FAILED: {message}")
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="the queue service, e.g. http://localhost:8080")
    parser.add_argument("queue_id")
    parser.add_argument("--user", help="print this user's draw key")
    parser.add_argument("--all", action="store_true", help="check every entrant (admin export; ADMIN_API_KEY)")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")

    public = get(f"{base}/v1/queues/{args.queue_id}")
    draw = public.get("draw")
    if not draw:
        fail("this queue has no opening draw")
    print(f"commitment  {draw['commitment']}")
    if draw.get("seed") is None:
        print("the draw is made at the opening; the seed is published then")
        return
    seed = bytes.fromhex(draw["seed"])
    if hashlib.sha256(seed).hexdigest() != draw["commitment"]:
        fail("SHA-256(seed) is not the commitment")
    print(f"seed        {draw['seed']}  (SHA-256 matches the commitment)")
    print(f"entrants    {draw['entrants']}, drawn at {draw['drawn_at']}")

    if args.user:
        key = draw_key(seed, args.user)
        print(f"{args.user}: key {key.hex()} (first 52 bits {order_of(key, args.user)[0]})")

    if args.all:
        admin_key = os.environ.get("ADMIN_API_KEY")
        if not admin_key:
            fail("set ADMIN_API_KEY to read the admin export")
        offset, checked, previous = 0, 0, None
        while offset is not None:
            page = get(f"{base}/v1/admin/queues/{args.queue_id}/draw?offset={offset}&limit=10000", admin_key)
            if page["seed"] != draw["seed"] or page["commitment"] != draw["commitment"]:
                fail("the export's seed or commitment differs from the public one")
            for entry in page["entries"]:
                key = draw_key(seed, entry["user_id"])
                if entry["key"] != key.hex():
                    fail(f"key of {entry['user_id']!r} is not HMAC-SHA256(seed, user id)")
                if entry["place"] != checked + 1:
                    fail(f"place {entry['place']} where {checked + 1} was due")
                rank = order_of(key, entry["user_id"])
                if previous is not None and rank < previous:
                    fail(f"{entry['user_id']!r} at place {entry['place']} is out of order")
                previous = rank
                checked += 1
            offset = page["next_offset"]
        if checked != page["entrants"]:
            fail(f"{checked} entries read, {page['entrants']} announced")
        print(f"all {checked} entrants: keys, order and places check out")


if __name__ == "__main__":
    main()
