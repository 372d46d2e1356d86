#!/usr/bin/env python3
"""An HTTP/2 server for test_net.c: runs nghttpd (Debian's nghttp2-server)
on 127.0.0.1 port 0 with the test certificate, serving a directory with a
`health` file, and prints "PORT <n>" once it listens.  nghttpd does not
say which port it got, so the port is read from the kernel: the listening
socket among nghttpd's open files, looked up in /proc/net/tcp.

Prints "NONE" and exits when nghttpd is not installed.  Stops nghttpd and
exits when its standard input is closed, on SIGTERM, or after --lifetime
seconds; nghttpd also gets SIGTERM should this script die first.
"""

import argparse
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

LISTEN = "0A"
PR_SET_PDEATHSIG = 1


def die_with_parent():
    """In the child: the kernel sends SIGTERM when the parent goes."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def listening_port(pid):
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state == LISTEN and inode in inodes:
                return int(local.split(":")[1], 16)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lifetime", type=float, default=120)
    args = ap.parse_args()
    exe = shutil.which("nghttpd") or (
        "/usr/sbin/nghttpd" if os.path.exists("/usr/sbin/nghttpd") else None)
    if exe is None:
        print("NONE", flush=True)
        return
    here = os.path.dirname(os.path.abspath(__file__))
    pem = os.path.join(here, "tls", "server.pem")
    docroot = tempfile.mkdtemp(prefix="tv-h2-")
    with open(os.path.join(docroot, "health"), "w") as f:
        f.write("ok\n")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    proc = subprocess.Popen([exe, "-a", "127.0.0.1", "-d", docroot, "0",
                             pem, pem], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            preexec_fn=die_with_parent)
    port = None
    deadline = time.monotonic() + 20
    while port is None and time.monotonic() < deadline:
        time.sleep(0.05)
        if proc.poll() is not None:
            break
        port = listening_port(proc.pid)
    if port is None:
        proc.kill()
        proc.wait()
        shutil.rmtree(docroot, ignore_errors=True)
        print("NONE", flush=True)
        return
    print("PORT %d" % port, flush=True)

    def watch_stdin():
        sys.stdin.read()
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait(args.lifetime)
    proc.terminate()
    proc.wait()
    shutil.rmtree(docroot, ignore_errors=True)


if __name__ == "__main__":
    main()
