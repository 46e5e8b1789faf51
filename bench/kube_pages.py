#!/usr/bin/env python3
"""The paginated floor of a Kubernetes list: fetches every page of `PATH` in protobuf, 500
objects a page (the `limit` calicoctl and we ask for), over one kept-alive connection, and
only reads the bytes (no decoding but the continue token). What the API server needs to serve
the same pages both clients ask for, which a paginated client cannot go below.

usage: kube_pages.py URL TOKEN PATH [LIMIT]   (prints the pages and bytes read on stderr)
"""
import http.client
import ssl
import sys
import urllib.parse


def varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return n, i


def fields(b):
    """(field number, wire type, value) of a protobuf message; value is bytes for type 2."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            sys.exit(f"kube_pages: wire type {wt}")
        yield num, wt, v


def field(b, num):
    return next((v for n, _, v in fields(b) if n == num), b"")


def continue_token(body):
    """runtime.Unknown (after the `k8s\\0` magic) → raw (2) → the list's ListMeta (1) →
    continue (3)."""
    if body[:4] != b"k8s\x00":
        sys.exit("kube_pages: the answer is not protobuf")
    raw = field(body[4:], 2)
    return field(field(raw, 1), 3).decode()


def main():
    url, token, path = sys.argv[1], sys.argv[2], sys.argv[3]
    limit = sys.argv[4] if len(sys.argv) > 4 else "500"
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ssl._create_unverified_context(), timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.kubernetes.protobuf"}
    cont, pages, total = "", 0, 0
    while True:
        q = {"limit": limit}
        if cont:
            q["continue"] = cont
        conn.request("GET", f"{path}?{urllib.parse.urlencode(q)}", headers=headers)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"kube_pages: HTTP {r.status}: {body[:200]!r}")
        pages, total = pages + 1, total + len(body)
        cont = continue_token(body)
        if not cont:
            break
    print(f"{pages} pages, {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
