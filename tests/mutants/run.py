#!/usr/bin/env python3
"""The mutation check (make mutants): does the test suite catch the bugs that matter?

Copies the tracked (and not-ignored untracked) files of the working tree into a
temporary directory, builds that copy once (CPU backend only: no GPU here), checks
that every test named in the list passes on the unmutated copy, then for each
mutant of tests/mutants/mutants.txt: replaces its exact original text by the
mutant, rebuilds incrementally, runs the tests named for it (stopping at the first
that fails), and puts the original back. Prints one row per mutant and "N/M killed".

  python3 tests/mutants/run.py [--list FILE] [--keep] [--drop-failing] [ID ...]

--keep leaves the copy in /tmp; --drop-failing (for measuring an older suite
with this list) drops a named test that fails unmutated instead of stopping.

A mutant is
  killed    one of its tests failed (or ran past the time limit);
  SURVIVED  all of its tests passed: the suite misses that bug;
  ERROR     its original text is not in the file exactly once (the list went
            stale), or the mutated tree does not build: a defect of the list.
Exit status 0 only when every mutant run was killed.

List format (blank-line separated records, '#' comments):
  [id]
  file: path/in/the/repo
  from: exact text, found exactly once in the file (a short fragment of one line)
  to: the text put in its place
  breaks: the behaviour this breaks
  test: unit:test_golden | bats:tests/x.bats[:name regex] | sh:shell command
  (one or more test: lines, run in order)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TEST_LIMIT = int(os.environ.get("RN_MUTANT_TEST_LIMIT", "600"))
JOBS = os.environ.get("RN_MUTANT_JOBS", str(os.cpu_count() or 2))


def parse(path):
    mutants, cur = [], None
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            m = re.match(r"^\[([A-Za-z0-9_.-]+)\]$", line)
            if m:
                cur = {"id": m.group(1), "tests": [], "line": lineno}
                mutants.append(cur)
                continue
            m = re.match(r"^(file|from|to|breaks|test):(?: (.*))?$", line)
            if not m or cur is None:
                sys.exit(f"mutants: {path}:{lineno}: not a '[id]' or 'key: value' line")
            key, value = m.group(1), m.group(2) or ""
            if key == "test":
                cur["tests"].append(value)
            else:
                cur[key] = value
    for mu in mutants:
        for key in ("file", "from", "to", "breaks"):
            if key not in mu:
                sys.exit(f"mutants: {path}:{mu['line']}: [{mu['id']}] has no '{key}:'")
        if not mu["tests"]:
            sys.exit(f"mutants: {path}:{mu['line']}: [{mu['id']}] names no test")
    ids = [mu["id"] for mu in mutants]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        sys.exit(f"mutants: {path}: duplicate ids {sorted(dup)}")
    return mutants


def copy_tree(dst):
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for rel in files:
        if not rel:
            continue
        rel = rel.decode()
        src = os.path.join(ROOT, rel)
        if not os.path.isfile(src):   # deleted in the working tree
            continue
        os.makedirs(os.path.join(dst, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, rel))


def unit_targets(tree):
    return ["build/tests/" + f[:-2] for f in sorted(os.listdir(os.path.join(tree, "tests/unit")))
            if f.startswith("test_") and f.endswith(".c")]


def clean_env(tree):
    """The environment of builds and tests in the copy: its tools, and CUDA=0 for
    every make (the tests' own `make -C` included: a make with other flags would
    rewrite the copy's flag stamp and make the next build rebuild everything)."""
    env = dict(os.environ, RN_BIN=os.path.join(tree, "bin"), RN_BUILD=os.path.join(tree, "build"), CUDA="0",
               OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "passive"))
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):   # the outer make's (e.g. -j)
        env.pop(k, None)
    return env


def build(tree, log):
    cmd = ["make", "-C", tree, f"-j{JOBS}", "tools"] + unit_targets(tree)
    with open(log, "w") as f:
        return subprocess.run(cmd, env=clean_env(tree), stdout=f, stderr=subprocess.STDOUT).returncode == 0


def test_command(spec):
    kind, _, arg = spec.partition(":")
    if kind == "unit":
        return ["build/tests/" + arg]
    if kind == "bats":
        path, _, name = arg.partition(":")
        return ["bats"] + (["-f", name] if name else []) + [path]
    if kind == "sh":
        return ["bash", "-c", arg]
    sys.exit(f"mutants: test '{spec}': the kind must be unit:, bats: or sh:")


def run_test(tree, spec, log):
    env = clean_env(tree)
    with open(log, "a") as f:
        f.write(f"\n=== {spec}\n")
        f.flush()
        try:
            rc = subprocess.run(test_command(spec), cwd=tree, env=env, stdout=f, stderr=subprocess.STDOUT,
                                timeout=TEST_LIMIT).returncode
        except subprocess.TimeoutExpired:
            return "timeout"
        except FileNotFoundError as e:
            f.write(f"missing: {e.filename}\n")
            return "fail"
    return "pass" if rc == 0 else "fail"


def main():
    args = sys.argv[1:]
    listfile = os.path.join(HERE, "mutants.txt")
    keep = drop_failing = False
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--list" and args:
            listfile = args.pop(0)
        elif opt == "--keep":
            keep = True
        elif opt == "--drop-failing":
            drop_failing = True
        else:
            sys.exit("usage: run.py [--list FILE] [--keep] [--drop-failing] [ID ...]")
    mutants = parse(listfile)
    if args:
        unknown = set(args) - {mu["id"] for mu in mutants}
        if unknown:
            sys.exit(f"mutants: no mutant {sorted(unknown)} in {listfile}")
        mutants = [mu for mu in mutants if mu["id"] in args]

    t0 = time.time()
    tree = tempfile.mkdtemp(prefix="rn-mutants.")
    logs = os.path.join(tree, ".mutant-logs")
    os.makedirs(logs)
    print(f"mutants: {len(mutants)} from {os.path.relpath(listfile, ROOT)}, tree copied to {tree}", flush=True)
    copy_tree(tree)
    if not build(tree, os.path.join(logs, "build.log")):
        sys.exit(f"mutants: the unmutated copy does not build (see {logs}/build.log)")
    print(f"mutants: built the unmutated copy in {time.time() - t0:.0f} s", flush=True)

    # Every named test must pass before any mutant: a test that fails anyway kills all.
    specs = []
    for mu in mutants:
        specs += [s for s in mu["tests"] if s not in specs]
    s0 = time.time()
    for spec in specs:
        if run_test(tree, spec, os.path.join(logs, "baseline.log")) != "pass":
            if not drop_failing:
                sys.exit(f"mutants: '{spec}' fails on the unmutated tree (see {logs}/baseline.log)")
            # measuring an older suite that lacks some of the tests named: those catch nothing
            print(f"mutants: '{spec}' fails (or is missing) unmutated: not used", flush=True)
            for mu in mutants:
                mu["tests"] = [t for t in mu["tests"] if t != spec]
    print(f"mutants: the {len(specs)} named tests pass unmutated ({time.time() - s0:.0f} s)\n", flush=True)

    print(f"{'mutant':<26} {'result':<9} {'seconds':>7}  by / why")
    killed = survived = errors = 0
    for mu in mutants:
        m0 = time.time()
        path = os.path.join(tree, mu["file"])
        log = os.path.join(logs, mu["id"] + ".log")
        try:
            with open(path) as f:
                original = f.read()
        except OSError as e:
            original, why = None, f"cannot read {mu['file']}: {e.strerror}"
        result, by = "ERROR", ""
        if original is not None:
            n = original.count(mu["from"])
            if n != 1:
                by = f"original text found {n} times in {mu['file']} (the list went stale)"
            else:
                with open(path, "w") as f:
                    f.write(original.replace(mu["from"], mu["to"]))
                try:
                    if not build(tree, log):
                        by = f"the mutant does not build (see {log})"
                    else:
                        result, by = "SURVIVED", "all of: " + (", ".join(mu["tests"]) or "(no test)")
                        for spec in mu["tests"]:
                            r = run_test(tree, spec, log)
                            if r != "pass":
                                result, by = "killed", spec + (" (time limit)" if r == "timeout" else "")
                                break
                finally:
                    # the new mtime makes the next build recompile the restored file
                    with open(path, "w") as f:
                        f.write(original)
        else:
            by = why
        killed += result == "killed"
        survived += result == "SURVIVED"
        errors += result == "ERROR"
        print(f"{mu['id']:<26} {result:<9} {time.time() - m0:7.0f}  {by}", flush=True)

    print(f"\n{killed}/{len(mutants)} killed ({survived} survived, {errors} errors) "
          f"in {time.time() - t0:.0f} s")
    if survived or errors:
        print(f"mutants: logs kept in {logs}")
    elif not keep:
        shutil.rmtree(tree, ignore_errors=True)
    return 0 if killed == len(mutants) else 1


if __name__ == "__main__":
    sys.exit(main())
