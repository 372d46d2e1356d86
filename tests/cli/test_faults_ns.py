"""Black-box tests of a full disk and a read-only file system under the
vault: each runs in a private mount namespace on a small tmpfs, so it
needs root (and unshare); otherwise the file is skipped (exit 77)."""

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

import tvtest

SCRIPT_HEAD = r"""
set -u
mount -t tmpfs -o size="$SIZE",mode=0700 tmpfs "$M" || exit 90
step() {
    name=$1
    shift
    "$@" >"$O/$name.out" 2>"$O/$name.err"
    echo $? >"$O/$name.rc"
}
"""


def can_unshare():
    """Root, unshare, and a tmpfs mount allowed in a new namespace."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = tempfile.mkdtemp(prefix="tvtest-probe-")
    try:
        p = subprocess.run(["unshare", "--mount", "--propagation", "private",
                            "mount", "-t", "tmpfs", "-o", "size=64k",
                            "tmpfs", probe],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        return p.returncode == 0
    finally:
        os.rmdir(probe)


class Namespaced(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tvtest-ns-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mnt = os.path.join(self.tmp, "mnt")
        self.out = os.path.join(self.tmp, "out")
        os.mkdir(self.mnt, 0o700)
        os.mkdir(self.out, 0o700)
        self.key = os.path.join(self.tmp, "vault.key")

    def script(self, body, size):
        tv = " ".join(shlex.quote(w) for w in
                      tvtest.WRAPPER + [tvtest.TIERVAULT])
        env = tvtest.base_env(M=self.mnt, O=self.out, SIZE=size, TV=tv,
                              TIERVAULT_VAULT=os.path.join(self.mnt, "v"),
                              TIERVAULT_KEY_FILE=self.key)
        p = subprocess.run(["unshare", "--mount", "--propagation", "private",
                            "sh", "-c", SCRIPT_HEAD + body], env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr.decode())

    def step(self, name):
        def read(ext):
            with open(os.path.join(self.out, name + "." + ext)) as f:
                return f.read()
        return int(read("rc")), read("out"), read("err")

    def test_full_disk_fails_cleanly(self):
        self.script(r"""
step init $TV init --key-file "$KEY" --no-passphrase
printf 'kept' | step first $TV put s FIRST --tier core
i=0
while [ $i -lt 300 ]; do
    i=$((i + 1))
    head -c 30000 /dev/urandom | od -An -tx1 | tr -d ' \n' |
        step fill $TV put s BIG$i --tier core
    [ "$(cat "$O/fill.rc")" = 0 ] || break
done
echo $i >"$O/count"
step get $TV get s FIRST
step verify $TV log verify
step ls $TV ls --json
""".replace("$KEY", shlex.quote(self.key)), size="2m")
        rc, _out, err = self.step("fill")
        with open(os.path.join(self.out, "count")) as f:
            count = int(f.read())
        self.assertLess(count, 300, "the disk never filled")
        self.assertEqual(rc, 1, err)
        self.assertTrue(err.startswith("tiervault: "), err)
        # LMDB reports a short write on a full disk as EIO
        self.assertRegex(err.lower(), "space|full|input/output")
        self.assertEqual(len(err.splitlines()), 1)
        # nothing half-written: the vault reads, verifies, and lacks the
        # secret whose write failed
        self.assertEqual(self.step("get")[:2], (0, "kept\n"))
        self.assertEqual(self.step("verify")[0], 0)
        rc, out, _ = self.step("ls")
        self.assertEqual(rc, 0)
        names = [s["name"] for s in json.loads(out)["secrets"]]
        self.assertIn("FIRST", names)
        self.assertNotIn("BIG%d" % count, names)
        self.assertEqual(len(names), count)  # FIRST + BIG1..BIG(count-1)

    def test_read_only_fails_cleanly(self):
        self.script(r"""
step init $TV init --key-file "$KEY" --no-passphrase
printf 'v1' | step put1 $TV put s A --tier core
mount -o remount,ro "$M" || exit 91
printf 'v2' | step put2 $TV put s A --tier core
step rm $TV rm s A
mount -o remount,rw "$M" || exit 92
step get $TV get s A
step verify $TV log verify
""".replace("$KEY", shlex.quote(self.key)), size="4m")
        self.assertEqual(self.step("put1")[0], 0)
        for name in ("put2", "rm"):
            rc, out, err = self.step(name)
            self.assertEqual(rc, 1, err)
            self.assertEqual(out, "")
            self.assertIn("read-only", err.lower())
        self.assertEqual(self.step("get")[:2], (0, "v1\n"))
        self.assertEqual(self.step("verify")[0], 0)


if __name__ == "__main__":
    if not can_unshare():
        print("skipped: needs root, unshare --mount and a tmpfs mount")
        sys.exit(77)
    tvtest.main()
