"""Starting the processes the runner's Python tests drive (reference server,
broken proxy) and waiting for the line that says they are ready."""

import re
import subprocess
import time


def wait_for_line(path, pattern, proc, deadline):
    """The first match of `pattern` in the file at `path`, waiting until
    `deadline` (monotonic seconds); None when the process died or time ran out."""
    while time.monotonic() < deadline:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                m = re.search(pattern, f.read())
            if m:
                return m
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            return None
        time.sleep(0.02)
    return None


def start(argv, log, pattern, seconds=30):
    """Starts `argv` with its output in the file `log` and waits for
    `pattern`; returns the process and the pattern's first group. Raises
    RuntimeError (with the log's end) when the line never comes."""
    with open(log, "w") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    m = wait_for_line(log, pattern, p, time.monotonic() + seconds)
    if m:
        return p, m.group(1)
    p.kill()
    p.wait()
    with open(log, errors="replace") as f:
        raise RuntimeError("%s did not start: %s" % (argv[0], f.read()[-500:]))
