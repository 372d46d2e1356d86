"""Black-box tests of the everyday commands: init, put, get, ls, history,
rm, rollback, backup, the vault location, --help, --version and the exit
codes of misuse."""

import json
import os
import stat

import tvtest
from tvtest import TestCase, Vault


class PutGet(TestCase):

    def test_put_get_roundtrip_drops_one_newline(self):
        v = self.vault
        v.put("api", "TOKEN", "first\n\n")
        p = v.tv("get", "api", "TOKEN")
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, "first\n\n")
        v.put("api", "TOKEN", "second")
        self.assertEqual(v.tv("get", "api", "TOKEN").stdout, "second\n")
        p = v.tv("get", "api", "TOKEN", "--version", "1")
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, "first\n\n")

    def test_put_reports_version_not_value(self):
        p = self.vault.tv("put", "api", "K", "--tier", "core",
                          "--note", "from the dashboard", input="v4lue")
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, "")
        self.assertIn("'api/K' version 1", p.stderr)
        self.assertNotIn("v4lue", p.stderr)
        p = self.vault.tv("-q", "put", "api", "K", "--tier", "core",
                          input="again")
        self.assertExit(p, 0)
        self.assertEqual(p.stderr, "")

    def test_empty_stdin_refused(self):
        p = self.vault.tv("put", "api", "K", "--tier", "core")
        self.assertExit(p, 1)
        self.assertIn("no value on standard input", p.stderr)
        p = self.vault.tv("get", "api", "K")
        self.assertExit(p, 1)

    def test_generate(self):
        p = self.vault.tv("put", "api", "SIGNING", "--tier", "core",
                          "--generate", "32")
        self.assertExit(p, 0)
        value = self.vault.tv("get", "api", "SIGNING").stdout.strip()
        self.assertEqual(len(value), 43)  # 32 bytes, base64url, no padding
        self.assertRegex(value, r"^[A-Za-z0-9_-]+$")
        self.assertNotIn(value, p.stdout + p.stderr)
        self.vault.tv("put", "api", "SIGNING", "--tier", "core",
                      "--generate", "32")
        other = self.vault.tv("get", "api", "SIGNING").stdout.strip()
        self.assertNotEqual(value, other)
        h = json.loads(self.vault.tv("history", "api", "SIGNING",
                                     "--json").stdout)
        self.assertEqual([x["op"] for x in h["versions"]],
                         ["generate", "generate"])
        for bad in ("0", "4097", "-1", "12x", "010", ""):
            p = self.vault.tv("put", "api", "S2", "--tier", "core",
                              "--generate", bad)
            self.assertExit(p, 2, "--generate %r" % bad)

    def test_missing_secret_and_version(self):
        self.vault.put("api", "K", "v1")
        p = self.vault.tv("get", "api", "NOPE")
        self.assertExit(p, 1)
        self.assertIn("NOPE", p.stderr)
        p = self.vault.tv("get", "api", "K", "--version", "9")
        self.assertExit(p, 1)

    def test_names_checked(self):
        for service, name in (("bad/svc", "K"), ("svc", "BAD NAME"),
                              ("svc", "x" * 129), ("", "K")):
            p = self.vault.tv("put", service, name, "--tier", "core",
                              input="v")
            self.assertExit(p, 1, "%r %r" % (service, name))
            self.assertIn("invalid", p.stderr)
        p = self.vault.tv("put", "svc", "K", "--tier", "Core", input="v")
        self.assertExit(p, 1)
        self.assertIn("invalid tier 'Core'", p.stderr)

    def test_reserved_services(self):
        p = self.vault.tv("put", "_internal", "K", "--tier", "core",
                          input="v")
        self.assertExit(p, 1)
        self.assertIn("reserved", p.stderr)
        p = self.vault.tv("put", "_cloudflare", "API_TOKEN", "--tier",
                          "core", input="tok")
        self.assertExit(p, 0)
        self.assertEqual(self.vault.tv("get", "_cloudflare",
                                       "API_TOKEN").stdout, "tok\n")


class Listing(TestCase):

    def setUp(self):
        super().setUp()
        self.vault.put("web", "A", "1", tier="core")
        self.vault.put("web", "B", "2", tier="payment")
        self.vault.put("api", "C", "3", tier="core")

    def test_ls_text_and_filters(self):
        p = self.vault.tv("ls")
        self.assertExit(p, 0)
        rows = [line.split() for line in p.stdout.splitlines()]
        self.assertEqual([(r[0], r[1], r[2], r[3]) for r in rows],
                         [("api", "C", "core", "v1"),
                          ("web", "A", "core", "v1"),
                          ("web", "B", "payment", "v1")])
        p = self.vault.tv("ls", "web", "--tier", "payment")
        self.assertEqual([r.split()[1] for r in p.stdout.splitlines()],
                         ["B"])

    def test_ls_json(self):
        p = self.vault.tv("ls", "--json", "--tier", "core")
        self.assertExit(p, 0)
        doc = json.loads(p.stdout)
        self.assertEqual([(s["service"], s["name"]) for s in doc["secrets"]],
                         [("api", "C"), ("web", "A")])
        s = doc["secrets"][0]
        for key in ("tier", "version", "created", "updated", "actor",
                    "fingerprint"):
            self.assertIn(key, s)
        self.assertRegex(s["fingerprint"], r"^[0-9a-f]{16}$")
        p = self.vault.tv("ls", "nobody", "--json")
        self.assertEqual(json.loads(p.stdout), {"secrets": []})

    def test_rm_history_rollback(self):
        v = self.vault
        v.put("web", "A", "1b", tier="core")
        self.assertExit(v.tv("rm", "web", "A"), 0)
        p = v.tv("get", "web", "A")
        self.assertExit(p, 1)
        self.assertNotIn("A", [r.split()[1] for r in
                               v.tv("ls", "web").stdout.splitlines()])
        self.assertExit(v.tv("rm", "web", "A"), 1)
        p = v.tv("rollback", "web", "A", "1")
        self.assertExit(p, 0)
        self.assertEqual(v.tv("get", "web", "A").stdout, "1\n")
        doc = json.loads(v.tv("history", "web", "A", "--json").stdout)
        self.assertEqual([(x["version"], x["op"], x["deleted"])
                          for x in doc["versions"]],
                         [(1, "put", False), (2, "put", False),
                          (3, "rm", True), (4, "rollback", False)])
        self.assertEqual(doc["versions"][3]["source"], 1)
        fp = doc["versions"]
        self.assertEqual(fp[0]["fingerprint"], fp[3]["fingerprint"])
        self.assertNotEqual(fp[0]["fingerprint"], fp[1]["fingerprint"])
        text = v.tv("history", "web", "A").stdout.splitlines()
        self.assertEqual(len(text), 4)
        self.assertIn("(deleted)", text[2])
        self.assertExit(v.tv("rollback", "web", "A", "3"), 1)  # tombstone
        self.assertExit(v.tv("rollback", "web", "A", "99"), 1)
        self.assertExit(v.tv("rollback", "web", "A", "x"), 2)
        self.assertExit(v.tv("history", "web", "NOPE"), 1)

    def test_backup_opens_with_same_key(self):
        dest = os.path.join(self.vault.tmp, "copy")
        p = self.vault.tv("backup", dest)
        self.assertExit(p, 0)
        p = self.vault.tv("--vault", dest, "get", "web", "B")
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, "2\n")
        self.assertExit(self.vault.tv("backup", dest), 1)  # never overwrite
        log = self.vault.tv("--vault", dest, "log", "--json").stdout
        self.assertIn("backup", [e["op"] for e in json.loads(log)["entries"]])


class Location(TestCase):

    def setUp(self):
        pass

    def test_xdg_and_home_defaults(self):
        v = Vault(init=False)
        self.addCleanup(v.cleanup)
        xdg = os.path.join(v.tmp, "xdg", "deep")
        env = {"TIERVAULT_VAULT": None, "XDG_DATA_HOME": xdg}
        p = v.tv("init", "--key-file", v.keyfile, "--no-passphrase", env=env)
        self.assertExit(p, 0)
        vault = os.path.join(xdg, "tiervault")
        self.assertTrue(os.path.isdir(vault))
        self.assertEqual(stat.S_IMODE(os.stat(vault).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(xdg).st_mode), 0o700)
        self.assertExit(v.tv("put", "s", "N", "--tier", "core", input="x",
                             env=env), 0)
        home = os.path.join(v.tmp, "home")
        os.mkdir(home, 0o700)
        env = {"TIERVAULT_VAULT": None, "XDG_DATA_HOME": None, "HOME": home}
        p = v.tv("init", "--key-file", v.keyfile, env=env,
                 input=None)
        # an existing key file is enrolled; a passphrase is needed too
        self.assertExit(p, 3)
        self.assertIn("TIERVAULT_PASSPHRASE", p.stderr)
        p = v.tv("init", "--key-file", v.keyfile, "--no-passphrase", env=env)
        self.assertExit(p, 0)
        self.assertTrue(os.path.isdir(os.path.join(
            home, ".local", "share", "tiervault")))
        p = v.tv("--vault", os.path.join(home, ".local", "share",
                                         "tiervault"), "ls", env=env)
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, "")

    def test_no_location(self):
        v = Vault(init=False)
        self.addCleanup(v.cleanup)
        env = {"TIERVAULT_VAULT": None, "XDG_DATA_HOME": None, "HOME": None}
        p = v.tv("ls", env=env)
        self.assertExit(p, 1)
        self.assertIn("no vault location", p.stderr)
        self.assertExit(v.tv("init", "--key-file", v.keyfile,
                             "--no-passphrase", env=env), 1)
        self.assertFalse(os.path.exists(v.keyfile))
        self.assertExit(v.tv("put", "--help", env=env), 0)

    def test_no_vault(self):
        v = Vault(init=False)
        self.addCleanup(v.cleanup)
        p = v.tv("ls")
        self.assertExit(p, 1)
        self.assertIn("tiervault init", p.stderr)

    def test_init_twice_refused_and_key_file_kept(self):
        v = Vault()
        self.addCleanup(v.cleanup)
        other = os.path.join(v.tmp, "other.key")
        p = v.tv("init", "--key-file", other, "--no-passphrase")
        self.assertExit(p, 1)
        self.assertFalse(os.path.exists(other))  # no stray key file
        self.assertExit(v.tv("ls"), 0)


COMMANDS = ["init", "put", "get", "ls", "history", "rm", "rollback",
            "import", "export", "run", "log", "keys", "backup"]


class Usage(TestCase):

    def test_help_everywhere(self):
        for args in [["--help"], ["-h"]] + [[c, "--help"] for c in COMMANDS] \
                + [["keys", "ls", "--help"], ["keys", "add", "-h"],
                   ["log", "verify", "--help"]]:
            p = self.vault.tv(*args)
            self.assertExit(p, 0, " ".join(args))
            self.assertTrue(p.stdout.startswith("usage: tiervault"), args)
            self.assertEqual(p.stderr, "")

    def test_version(self):
        p = self.vault.tv("--version")
        self.assertExit(p, 0)
        self.assertRegex(p.stdout, r"^tiervault \d+\.\d+\.\d+\n$")

    def test_misuse_exits_2(self):
        cases = [
            [],
            ["frobnicate"],
            ["--bogus", "ls"],
            ["-q", "-q", "ls"],
            ["--vault"],
            ["--vault", "a", "--vault", "b", "ls"],
            ["put", "svc", "K"],
            ["put", "svc"],
            ["put", "svc", "K", "--tier", "core", "--tier", "ai"],
            ["put", "svc", "K", "--tier"],
            ["put", "svc", "K", "--tier", "core", "--value", "x"],
            ["get", "svc"],
            ["get", "svc", "K", "--version", "0"],
            ["get", "svc", "K", "--version", "4294967296"],
            ["ls", "a", "b"],
            ["ls", "--json=yes"],
            ["history", "svc"],
            ["rm", "svc"],
            ["rollback", "svc", "K"],
            ["init", "--no-passphrase"],
            ["init", "--kdf", "extreme"],
            ["import"],
            ["import", "f", "--service", "s"],
            ["import", "f", "--service", "s", "--tier", "t",
             "--policy", "p", "--worker", "w"],
            ["import", "f", "--service", "s", "--tier", "t",
             "--format", "yaml"],
            ["export"],
            ["export", "--service", "s", "--format", "xml"],
            ["run", "--service", "s"],
            ["run", "--service", "s", "true"],
            ["run", "--", "true"],
            ["run", "--policy", "p", "--", "true"],
            ["log", "frob"],
            ["log", "verify", "--json"],
            ["keys"],
            ["keys", "frob"],
            ["keys", "add"],
            ["keys", "add", "--passphrase", "--key-file", "k"],
            ["keys", "rm"],
            ["keys", "rm", "one"],
            ["backup"],
        ]
        for args in cases:
            p = self.vault.tv(*args)
            self.assertExit(p, 2, " ".join(args))
            self.assertEqual(p.stdout, "", args)
            self.assertTrue(p.stderr.startswith("tiervault: "), args)


if __name__ == "__main__":
    tvtest.main()
