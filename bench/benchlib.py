"""bench/benchlib.py: what the benchmark scripts share (bench/node.py, first_contact.py,
dir_register.py): a free loopback port, a `sotto` command run on a profile, the figures a C
bench tool prints, and the cost of one fsync on this disk. Each script runs from the top of the
tree as `python3 bench/NAME.py`, which puts bench/ on the import path."""
import os
import socket
import statistics
import subprocess
import time


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sotto(binary, home, *args):
    """Runs `binary ARGS...` (the sotto command) on the profile in `home`; raises
    subprocess.CalledProcessError when it fails. Returns the finished process, its output as
    text."""
    return subprocess.run([binary, *args], env=dict(os.environ, SOTTO_HOME=home), check=True,
                          capture_output=True, text=True)


def figures(text):
    """The lines "NAME VALUE UNIT" that a bench tool prints, as {NAME: VALUE}; other lines are
    skipped."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out[parts[0]] = float(parts[1])
    return out


def fsync_ms(path):
    """The median of 20 fsyncs, each after a 4 KiB write to the file `path` (made or emptied),
    in milliseconds."""
    times = []
    with open(path, "wb") as f:
        for _ in range(20):
            f.write(b"x" * 4096)
            t = time.perf_counter()
            os.fsync(f.fileno())
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)
