"""Black-box tests of import and export: the .dev.vars syntax, JSON, the
wrangler format, lossless round trips, and imports that must import
nothing."""

import json
import os

import tvtest
from tvtest import TestCase

DEV_VARS = (
    "# local secrets for wrangler dev\r\n"
    "\n"
    "export STRIPE_KEY=sk_test_123\n"
    "PLAIN =  two words   # trailing comment\n"
    "HASH=abc#def\n"
    "SINGLE='literal \\n $HOME # kept'\n"
    "DOUBLE=\"line1\\nline2 \\\"quoted\\\" back\\\\slash\"\n"
    "PEM=\"-----BEGIN KEY-----\n"
    "MIIB\n"
    "-----END KEY-----\"\n"
    "URL=postgres://u:p@h/db?sslmode=require\n"
    "EMPTY=\n"
)

EXPECTED = {
    "STRIPE_KEY": "sk_test_123",
    "PLAIN": "two words",
    "HASH": "abc#def",
    "SINGLE": "literal \\n $HOME # kept",
    "DOUBLE": "line1\nline2 \"quoted\" back\\slash",
    "PEM": "-----BEGIN KEY-----\nMIIB\n-----END KEY-----",
    "URL": "postgres://u:p@h/db?sslmode=require",
    "EMPTY": "",
}

TRICKY = {
    "SPACES": "  leading and trailing  ",
    "QUOTES": "it's \"both\"",
    "NEWLINES": "a\nb\r\nc\n",
    "BACKSLASH": "C:\\path\\n\\",
    "COMMENTISH": "value # not a comment",
    "DOLLAR": "$HOME ${X}",
    "UNICODE": "p\u00e4ss \u2603",
    "TAB": "a\tb",
    "EQUALS": "==a=b==",
    "HASHSTART": "#start",
}


class Import(TestCase):

    def write(self, name, text, mode="w"):
        path = os.path.join(self.vault.tmp, name)
        with open(path, mode) as f:
            f.write(text)
        return path

    def values(self, service):
        p = self.vault.tv("export", "--service", service, "--format", "json")
        self.assertExit(p, 0)
        return json.loads(p.stdout)

    def test_dev_vars_syntax(self):
        path = self.write(".dev.vars", DEV_VARS)
        p = self.vault.tv("import", path, "--service", "web", "--tier",
                          "core")
        self.assertExit(p, 0)
        self.assertIn("imported 8 secrets", p.stderr)
        self.assertEqual(self.values("web"), EXPECTED)
        self.assertEqual(self.vault.tv("get", "web", "PEM").stdout,
                         EXPECTED["PEM"] + "\n")
        h = json.loads(self.vault.tv("history", "web", "URL",
                                     "--json").stdout)
        self.assertEqual(h["versions"][0]["op"], "import")
        self.assertEqual(h["versions"][0]["tier"], "core")

    def test_stdin_and_json(self):
        p = self.vault.tv("import", "-", "--service", "a", "--tier", "ai",
                          input="K=v\n")
        self.assertExit(p, 0)
        path = self.write("s.json", json.dumps(EXPECTED))
        p = self.vault.tv("import", path, "--service", "j", "--tier", "ai")
        self.assertExit(p, 0)
        self.assertEqual(self.values("j"), EXPECTED)
        path = self.write("obj.txt", '{"A": "1"}')
        p = self.vault.tv("import", path, "--service", "k", "--tier", "ai",
                          "--format", "json")
        self.assertExit(p, 0)
        self.assertEqual(self.values("k"), {"A": "1"})

    def test_round_trips(self):
        for k, val in TRICKY.items():
            self.vault.put("src", k, val + "\n")
        for fmt, ext in (("dotenv", ".env"), ("json", ".json"),
                         ("wrangler", ".json")):
            p = self.vault.tv("export", "--service", "src", "--format", fmt)
            self.assertExit(p, 0, fmt)
            path = self.write("out-" + fmt + ext, p.stdout)
            dest = "dst-" + fmt
            p = self.vault.tv("import", path, "--service", dest, "--tier",
                              "core")
            self.assertExit(p, 0, fmt)
            self.assertEqual(self.values(dest), TRICKY, fmt)

    def test_wrangler_is_flat_object(self):
        self.vault.put("w", "A", "1")
        self.vault.put("w", "B", "x\"y")
        self.vault.put("w", "C", "z", tier="payment")
        p = self.vault.tv("export", "--service", "w", "--format", "wrangler")
        self.assertExit(p, 0)
        self.assertEqual(json.loads(p.stdout),
                         {"A": "1", "B": "x\"y", "C": "z"})
        p = self.vault.tv("export", "--service", "w", "--tier", "payment",
                          "--format", "wrangler")
        self.assertEqual(json.loads(p.stdout), {"C": "z"})
        p = self.vault.tv("export", "--service", "w")
        self.assertEqual(p.stdout, "A=1\nB=\"x\\\"y\"\nC=z\n")

    def test_export_refusals(self):
        p = self.vault.tv("export", "--service", "none")
        self.assertExit(p, 1)
        self.assertIn("no secrets in 'none'", p.stderr)
        self.vault.tv("put", "bin", "RAW", "--tier", "core",
                      input=b"\xff\xfe")
        p = self.vault.tv("export", "--service", "bin", "--format", "json")
        self.assertExit(p, 1)
        self.assertIn("'RAW'", p.stderr)
        self.assertIn("UTF-8", p.stderr)
        self.assertEqual(p.stdout, "")
        p = self.vault.tv("export", "--service", "bin")
        self.assertExit(p, 0)

    def assertImportsNothing(self, path, where, problem, *extra):
        secret = tvtest.canary()
        with open(path) as f:
            text = f.read().replace("SECRETVALUE", secret)
        with open(path, "w") as f:
            f.write(text)
        args = list(extra) or ["--service", "web", "--tier", "core"]
        p = self.vault.tv("import", path, *args)
        self.assertExit(p, 1)
        self.assertIn("%s: %s" % (where, problem), p.stderr)
        self.assertNotIn(secret, p.stderr + p.stdout)
        self.assertEqual(self.vault.tv("ls").stdout, "")
        log = json.loads(self.vault.tv("log", "--json").stdout)
        self.assertEqual([e["op"] for e in log["entries"]], ["init"])

    def test_broken_line_imports_nothing(self):
        cases = [
            ("A=1\nB=2\nC=3\nthis line is SECRETVALUE\nD=4\n", 4,
             "expected NAME=VALUE"),
            ("A=1\nB=2\nA=SECRETVALUE\n", 3,
             "duplicate name 'A' (first on line 1)"),
            ("A=1\nB=\"SECRETVALUE\nC=3\n", 2,
             "unterminated double-quoted value"),
            ("A=1\nBAD-NAME!=SECRETVALUE\n", 2, "invalid name"),
            ("A=\"SECRETVALUE\" junk\n", 1, "unexpected text"),
        ]
        for i, (text, line, problem) in enumerate(cases):
            path = self.write("bad%d.env" % i, text)
            self.assertImportsNothing(path, "%s:%d" % (path, line), problem)

    def test_bad_json_imports_nothing(self):
        cases = [
            ('{"A": "1", "B": 2, "C": "SECRETVALUE"}',
             "the value of 'B' is not a string"),
            ('["SECRETVALUE"]', "expected a JSON object of strings"),
            ('{"A": "SECRETVALUE", "A": "x"}', "duplicate name 'A'"),
            ('{"A": "SECRETVALUE", "b c": "x"}', "invalid name"),
            ('{"A": "SECRETVALUE"', "not valid JSON"),
            ('{"A": "SECRETVALUE\\u0000tail"}', "a string holds a NUL"),
        ]
        for i, (text, problem) in enumerate(cases):
            path = self.write("bad%d.json" % i, text)
            self.assertImportsNothing(path, path, problem)

    def test_import_refusals(self):
        path = self.write("ok.env", "A=1\n")
        p = self.vault.tv("import", path, "--service", "_mine", "--tier",
                          "core")
        self.assertExit(p, 1)
        self.assertIn("reserved", p.stderr)
        p = self.vault.tv("import", path + ".missing", "--service", "s",
                          "--tier", "core")
        self.assertExit(p, 1)
        self.assertIn("cannot open", p.stderr)
        path = self.write("empty.env", "# nothing\n")
        p = self.vault.tv("import", path, "--service", "s", "--tier", "core")
        self.assertExit(p, 1)
        self.assertIn("no secrets", p.stderr)

    def test_reimport_makes_new_versions(self):
        path = self.write("v.env", "A=1\nB=2\n")
        for _ in range(2):
            self.assertExit(self.vault.tv("import", path, "--service", "s",
                                          "--tier", "core"), 0)
        doc = json.loads(self.vault.tv("ls", "--json").stdout)
        self.assertEqual([s["version"] for s in doc["secrets"]], [2, 2])


if __name__ == "__main__":
    tvtest.main()
