#!/usr/bin/env python3
"""Write compile_commands.json (the Clang compilation database) for editors, clangd and clang-tidy.

Fed by what make itself would run: `make -Bn` of the given targets prints every compile command (kernel
objects with the kernel's flags, host unit-test objects with the host flags and their per-object additions)
without running any of them. Each `<compiler> ... -c <source> -o <object>` line becomes one entry, with the
exact arguments. Sources built only by a compile-and-link command (the libFuzzer targets) get one entry each,
with the other sources and the link output left out. A source compiled twice (kernel and host) has both
entries, kernel first.

    scripts/compile_commands.py -o compile_commands.json -- make -Bn V=1 kernels build/host/skerry-unit
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

COMPILERS = ("gcc", "g++", "cc", "c++", "clang", "clang++")
SOURCE_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".S")


def is_compiler(word):
    base = os.path.basename(word)
    # gcc, g++-12, x86_64-linux-gnu-g++, clang++-14 ...
    name = base.rsplit("-", 1)[0] if base.rsplit("-", 1)[-1].replace(".", "").isdigit() else base
    return any(name == c or name.endswith("-" + c) for c in COMPILERS)


def commands(lines):
    """Compiler invocations in make's dry-run output: argument lists."""
    joined, cur = [], ""
    for line in lines:  # a recipe line continued with a backslash prints as several lines
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        joined.append(cur + line)
        cur = ""
    for line in joined:
        line = line.strip()
        if not line or line.startswith(("#", "echo ", "printf ")):
            continue
        try:
            words = shlex.split(line)
        except ValueError:  # not a simple command (a shell construct); never a compile line here
            continue
        if words and is_compiler(words[0]):
            yield words


def sources_of(words):
    """Positional arguments naming source files (not option values such as -o x or -include x)."""
    takes_value = {"-o", "-include", "-imacros", "-isystem", "-I", "-D", "-U", "-x", "-MF", "-MT", "-MQ",
                   "-idirafter", "-iquote", "-L", "-l", "-T", "-Xlinker", "-Xassembler", "-Xpreprocessor"}
    out = []
    skip = False
    for i, w in enumerate(words[1:], 1):
        if skip:
            skip = False
            continue
        if w in takes_value:
            skip = True
            continue
        if not w.startswith("-") and w.endswith(SOURCE_SUFFIXES):
            out.append(i)
    return out


def entries(lines, root):
    seen = set()  # (file, object) pairs already written
    compiled = set()  # files with a -c entry
    result, linked = [], []
    for words in commands(lines):
        idx = sources_of(words)
        if not idx:
            continue
        if "-c" in words and len(idx) == 1:
            src = words[idx[0]]
            obj = words[words.index("-o") + 1] if "-o" in words[:-1] else None
            if (src, obj) in seen:
                continue
            seen.add((src, obj))
            compiled.add(src)
            e = {"directory": root, "file": os.path.join(root, src), "arguments": words}
            if obj:
                e["output"] = obj
            result.append(e)
        elif "-c" not in words:
            linked.append((words, idx))
    # Compile-and-link commands: one entry per source not covered above, compiled alone.
    for words, idx in linked:
        for i in idx:
            src = words[i]
            if src in compiled:
                continue
            compiled.add(src)
            args, skip = [], False
            for j, w in enumerate(words):
                if skip:
                    skip = False
                    continue
                if w == "-o":
                    skip = True
                    continue
                if j in idx and j != i:
                    continue
                args.append(w)
            args.insert(1, "-c")
            result.append({"directory": root, "file": os.path.join(root, src), "arguments": args})
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default="compile_commands.json")
    ap.add_argument("--input", help="read make's dry-run output from this file ('-': stdin) instead of running it")
    ap.add_argument("command", nargs="*", help="the dry-run make command (after --)")
    args = ap.parse_args()
    root = os.getcwd()
    if args.input:
        text = sys.stdin.read() if args.input == "-" else open(args.input).read()
    elif args.command:
        r = subprocess.run(args.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
            sys.exit(f"compile_commands: '{' '.join(args.command)}' failed (exit {r.returncode})")
        text = r.stdout
    else:
        ap.error("give the make command after --, or --input")
    db = entries(text.splitlines(), root)
    if not db:
        sys.exit("compile_commands: no compile command in make's output")
    tmp = args.output + ".tmp"
    with open(tmp, "w") as f:
        json.dump(db, f, indent=1)
        f.write("\n")
    os.replace(tmp, args.output)
    print(f"  GEN     {args.output} ({len(db)} entries, {len({e['file'] for e in db})} files)")


if __name__ == "__main__":
    main()
