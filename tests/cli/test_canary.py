"""The canary test: secret values (and the passphrase) go through every
command, and must never show up on stderr, in ls/history/log output (text
and JSON), in the audit log, nor in the raw bytes of the vault files or
of a backup.  They may show up only where they belong: get, export and
the environment of run's child."""

import json
import os

import tvtest
from tvtest import TestCase, Vault


class Canary(TestCase):

    def setUp(self):
        self.vault = Vault(init=False)
        self.addCleanup(self.vault.cleanup)
        self.pw = tvtest.canary("PASS")
        self.vault.env["TIERVAULT_PASSPHRASE"] = self.pw
        p = self.vault.tv("init", "--kdf", "interactive", "--key-file",
                          self.vault.keyfile)
        self.assertExit(p, 0)
        self.stderr = [p.stderr]
        self.listings = []

    def tv(self, *args, input=None, env=None, code=0, listing=False):
        p = self.vault.tv("-v", *args, input=input, env=env)
        self.assertExit(p, code, " ".join(args))
        self.stderr.append(p.stderr)
        if listing:
            self.listings.append(p.stdout)
        return p

    def write(self, name, text):
        path = os.path.join(self.vault.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_canary_never_leaks(self):
        c1, c2, c3, c4, c5 = (tvtest.canary("C%d" % i) for i in range(5))
        canaries = [c1, c2, c3, c4, c5, self.pw]

        self.tv("put", "api", "TOKEN", "--tier", "core", "--note", "n",
                input=c1 + "\n")
        self.tv("put", "api", "TOKEN", "--tier", "core", input=c2)
        self.tv("import", self.write("a.env", "A=%s\nB='%s'\n" % (c3, c3)),
                "--service", "web", "--tier", "payment")
        self.tv("import", self.write("a.json", json.dumps({"J": c4})),
                "--service", "web", "--tier", "ai")
        self.tv("put", "api", "GEN", "--tier", "core", "--generate", "24")
        gen = self.tv("get", "api", "GEN").stdout.strip()
        canaries.append(gen)
        self.assertEqual(self.tv("get", "api", "TOKEN").stdout, c2 + "\n")
        self.assertEqual(self.tv("get", "api", "TOKEN", "--version",
                                 "1").stdout, c1 + "\n")
        self.tv("rm", "api", "TOKEN")
        self.tv("rollback", "api", "TOKEN", "2")
        for fmt in ("dotenv", "json", "wrangler"):
            p = self.tv("export", "--service", "web", "--format", fmt)
            self.assertIn(c3, p.stdout)
        p = self.tv("run", "--service", "web", "--", "sh", "-c",
                    'test "$J" = "%s" && echo ok' % c4)
        self.assertEqual(p.stdout, "ok\n")
        # failures print messages too
        self.tv("get", "api", "TOKEN", "--version", "99", code=1)
        self.tv("import", self.write("bad.env", "X=%s\nnot a line %s\n"
                                     % (c5, c5)),
                "--service", "web", "--tier", "core", code=1)
        self.tv("import", self.write("bad.json", '{"X": "%s", "Y": 1}' % c5),
                "--service", "web", "--tier", "core", code=1)
        self.tv("get", "api", "TOKEN", env={
            "TIERVAULT_KEY_FILE": None,
            "TIERVAULT_PASSPHRASE": self.pw + "x"}, code=3)
        self.tv("keys", "add", "--passphrase", input=c5 + "\n")
        canaries.append(c5)
        self.tv("backup", os.path.join(self.vault.tmp, "backup"))

        for args in (["ls"], ["ls", "--json"], ["ls", "web"],
                     ["history", "api", "TOKEN"],
                     ["history", "api", "TOKEN", "--json"],
                     ["history", "web", "A", "--json"],
                     ["log"], ["log", "--json"], ["log", "verify"],
                     ["keys", "ls"]):
            self.tv(*args, listing=True)
        self.assertTrue(any("rollback" in s for s in self.listings))

        files = self.vault.files()
        for root, _d, names in os.walk(os.path.join(self.vault.tmp,
                                                    "backup")):
            files.extend(os.path.join(root, n) for n in names)
        self.assertGreaterEqual(len(files), 3)
        blobs = []
        for path in files:
            with open(path, "rb") as f:
                blobs.append(f.read())
        for value in canaries:
            for text in self.stderr + self.listings:
                self.assertNotIn(value, text)
            for blob in blobs:
                self.assertNotIn(value.encode(), blob)


if __name__ == "__main__":
    tvtest.main()
