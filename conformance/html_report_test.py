#!/usr/bin/env python3
"""The HTML report (--html) of a run against a broken server, as a person
sees it: rendered by headless Chromium with JavaScript off.

    html_report_test.py BIN_DIR [--keep]

A reference lmcache-server sits behind lmcache-broken-proxy with the
exist-inverted bug; the server catalogue runs against it with --html and
--json. The checks:
  - the page is one self-contained file under 5 MB: no script, no
    stylesheet, image or frame from anywhere else;
  - Chromium renders it (--dump-dom) with the same counts as the JSON
    report, every failing case open with its observed outcome and a wire
    log of both directions;
  - the screenshot is not blank: it has the report's colours in it.
"""

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "testing"))
from procs import start  # noqa: E402

LIMIT_BYTES = 5 << 20
problems = []


def problem(text):
    problems.append(text)
    print("FAIL " + text)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def png_pixels(path):
    """(width, height, rows of RGB(A) tuples) of an 8-bit, non-interlaced
    PNG, as Chromium writes them."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    at, idat, header = 8, b"", None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or interlace != 0 or colour not in (2, 6):
        raise ValueError("unexpected PNG format %r" % (header,))
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bin_dir")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    browser = chromium()
    if browser is None:
        print("FAIL chromium is not installed (ci/setup.sh installs it)")
        print("0 passed, 1 failed")
        return 1
    work = tempfile.mkdtemp(prefix="html-report-")
    procs = []
    try:
        server, port = start([os.path.join(args.bin_dir, "lmcache-server"), "--port", "0", "--l1-size-bytes",
                              str(64 << 20)], os.path.join(work, "server.log"), r"listening on lm://[^:]+:(\d+)")
        procs.append(server)
        proxy, port = start([os.path.join(args.bin_dir, "lmcache-broken-proxy"), "--listen-port", "0", "--upstream",
                             "127.0.0.1:" + port, "--bug", "exist-inverted"], os.path.join(work, "proxy.log"),
                            r"listening on (\d+)")
        procs.append(proxy)
        html, report = os.path.join(work, "report.html"), os.path.join(work, "report.json")
        subprocess.run([os.path.join(args.bin_dir, "lmcache-conformance"), "server", "--target",
                        "lm://127.0.0.1:" + port, "--html", html, "--json", report, "--skip", "server/body/bytes-64mib"],
                       stdout=subprocess.DEVNULL, timeout=300)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    summary = json.load(open(report, encoding="utf-8"))["summary"]
    results = json.load(open(report, encoding="utf-8"))["results"]
    failing = [r["id"] for r in results if r["outcome"] == "failed"]
    if not failing:
        problem("the run against exist-inverted failed no case")

    # Self-contained and small.
    page = open(html, encoding="utf-8").read()
    if len(page.encode()) > LIMIT_BYTES:
        problem("the report is %d bytes, over 5 MB" % len(page.encode()))
    outside = re.findall(r"<script|<link|<img|<iframe|\ssrc=|url\(|https?://", page, re.I)
    if outside:
        problem("the report refers outside itself or runs script: %s" % sorted(set(outside)))

    # Rendered, JavaScript off.
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-javascript", "--hide-scrollbars",
             "--user-data-dir=" + os.path.join(work, "profile")]
    url = "file://" + html
    dom = subprocess.run([browser] + flags + ["--dump-dom", url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         timeout=120).stdout.decode("utf-8", errors="replace")
    for cls, key in (("pass", "passed"), ("fail", "failed"), ("skip", "skipped"), ("xfail", "failed_as_expected")):
        m = re.search(r'id="count-%s">(\d+) ' % cls, dom)
        shown = int(m.group(1)) if m else None
        if shown != summary[key]:
            problem("the page shows %s %s, the JSON report %d" % (shown, key, summary[key]))
    for case in failing:
        anchor = "case-" + re.sub(r"[^A-Za-z0-9-]", "_", case)
        m = re.search(r'<details class="case fail" id="%s" open="">(.*?)</details>' % re.escape(anchor), dom, re.S)
        if not m:
            problem("%s: not shown open as a failure" % case)
            continue
        body = m.group(1)
        if "Observed:" not in body or "Wire log" not in body or "client → server" not in body \
                or "server → client" not in body:
            problem("%s: no observed outcome or no wire log of both directions" % case)
    shot = os.path.join(work, "report.png")
    subprocess.run([browser] + flags + ["--window-size=1200,1600", "--screenshot=" + shot, url],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    if not os.path.exists(shot):
        problem("Chromium wrote no screenshot")
    else:
        width, height, bpp, rows = png_pixels(shot)
        colours, ink = set(), 0
        for row in rows[::4]:
            for x in range(0, width * bpp, bpp * 4):
                px = row[x:x + 3]
                colours.add(px)
                ink += px != b"\xff\xff\xff"
        red = any(p[0] > 180 and p[1] < 90 and p[2] < 90 for p in colours)
        green = any(p[1] > 100 and p[0] < 100 and p[2] < 100 for p in colours)
        if ink < 1000 or len(colours) < 20 or not (red and green):
            problem("the screenshot looks blank: %d inked samples, %d colours, red %s, green %s" % (
                ink, len(colours), red, green))
    if not problems:
        print("ok   %s: %d cases (%d failed) in %d bytes; Chromium shows the JSON's counts, every failure open "
              "with its wire log, and a %dx%d screenshot with the status colours" % (
                  os.path.basename(html), len(results), len(failing), len(page.encode()), width, height))
    if args.keep:
        print("files in " + work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (0 if problems else 1, 1 if problems else 0))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
