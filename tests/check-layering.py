#!/usr/bin/env python3
"""The layering rules of DEVELOPERS.md ("Layering"), checked on every `make check`.

Why a program and not a few greps: the rules are a matrix derived from the
Makefile (DEPS_<room>, PUBLIC_<room>, EXT_<room>, LIBDIRS, MAINS), which make
itself prints (`make layering-facts`), so adding a room or a public header is a
Makefile edit and the check follows. Code is read with comments stripped, so a
comment may explain what the code must not do.

A room is a library directory (LIBDIRS) or proto (the generated *.pb-c.h).
tests/tools/ belongs to cli (its programs link as cli); tests/unit, tests/fuzz
and tests/lib may include anything (they test private parts on purpose) but
still spell includes properly and form no cycle.

Output: one line per violation, `FILE:LINE: RULE: explanation`, exit 1; or
`layering: ok`, exit 0. Known violations waiting for their fix are listed in
tests/layering/allow; an allow line that matches nothing fails too, so the list
only shrinks. Exit 2 if the facts cannot be read.
"""
import fnmatch
import os
import re
import subprocess
import sys
from collections import Counter

RULES = {
    "include-spelling": 'project headers are included as "room/name.h" from the repository root',
    "deps": "a room includes only rooms its DEPS_<room> line lists",
    "public": "only headers in PUBLIC_<room> may be included from another room; *-internal.h never",
    "external": "a library's headers only in rooms whose DEPS link that library (EXT_<room>)",
    "knowledge": "containerd, overlay, gRPC and protobuf are named only in rooms whose DEPS reach them",
    "logger": "only the rooms with a main() (plugin/, cli/) include the logger",
    "env": "libraries never read or change the environment",
    "exit": "libraries never exit or abort",
    "print": "libraries never print to stdout or stderr",
    "include-cycle": "no header includes itself through others",
    "deps-graph": "DEPS lines are acyclic, closed, list their room first and name rooms only",
    "link": "each binary links only the libraries its room's DEPS allow",
    "room": "every C file lives in a room",
    "allow": "every line of tests/layering/allow matches a current violation",
}

LOGGER = "common/log.h"
DRY_BUILD = "build-layering-dry-run"  # named in `make -n`, never created
GENERATED = re.compile(r"\.pb-c\.h$")
# Test directories: the room their files belong to, or None for "may include anything".
TEST_DIRS = {"tests/tools": "cli", "tests/unit": None, "tests/fuzz": None, "tests/lib": None}
# External headers -> the -l flag that brings their library (see EXT_<room>).
EXTERNAL = [
    ("grpc/", "-lgrpc"), ("grpcpp/", "-lgrpc"), ("protobuf-c/", "-lprotobuf-c"),
    ("lmdb.h", "-llmdb"), ("liburing.h", "-luring"), ("liburing/", "-luring"),
    ("curl/", "-lcurl"), ("openssl/", "-lcrypto"), ("zstd.h", "-lzstd"),
    ("zstd_errors.h", "-lzstd"), ("zdict.h", "-lzstd"), ("archive.h", "-larchive"),
    ("archive_entry.h", "-larchive"), ("ini.h", "-linih"), ("jansson.h", "-ljansson"),
    ("cmocka.h", "-lcmocka"),
]
# What a room may name in code and strings, and the fact that allows it.
# containerd and overlayfs are the snapshotter's world (snapshot/ and the rooms
# that depend on it); gRPC comes with -lgrpc; protobuf with the proto room.
KNOWLEDGE = [
    ("containerd", lambda f, r: "snapshot" in f.deps.get(r, ())),
    ("overlay", lambda f, r: "snapshot" in f.deps.get(r, ())),
    ("grpc", lambda f, r: "-lgrpc" in f.ext.get(r, ())),
    ("protobuf", lambda f, r: "proto" in f.deps.get(r, ())),
]
# Calls libraries must not make. A match right after '.' or '->' is a member
# (ops->exit) and does not count; that is tested in code, not with a
# look-behind, which makes these searches several times slower.
ENV_RE = re.compile(r"\b(getenv|secure_getenv|setenv|unsetenv|putenv|clearenv)\s*\(|\b(environ)\b")
EXIT_RE = re.compile(r"\b(exit|_exit|_Exit|quick_exit|abort|err|errx|verr|verrx)\s*\(")
PRINT_RE = re.compile(r"\b(printf|vprintf|puts|putchar|perror|warn|warnx|vwarn|vwarnx|psignal)\s*\("
                      r"|\b(stdout|stderr|STDOUT_FILENO|STDERR_FILENO)\b"
                      r"|\b((?:v?dprintf|write)\s*\(\s*[12]\s*,)")
CALLS = [("env", ENV_RE), ("exit", EXIT_RE), ("print", PRINT_RE)]
INCLUDE_ALL = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]*)[>"][^\n]*', re.M)


class Facts:
    def __init__(self, text):
        self.rooms, self.mains = [], []
        self.deps, self.public, self.ext = {}, {}, {}
        for line in text.splitlines():
            kind, _, rest = line.partition(" ")
            words = rest.split()
            if kind == "ROOMS":
                self.rooms = words
            elif kind == "MAINS":
                self.mains = words
            elif kind in ("DEPS", "PUBLIC", "EXT") and words:
                getattr(self, kind.lower())[words[0]] = words[1:]
        self.edge = {self.room_of(m) for m in self.mains}  # rooms with a main(): plugin, cli

    def room_of(self, path):
        """The room a file belongs to ('' for none, None for may-include-anything)."""
        d = os.path.dirname(path)
        for t, room in TEST_DIRS.items():
            if d == t or d.startswith(t + "/"):
                return room
        best = ""
        for r in self.rooms:
            if (d == r or d.startswith(r + "/")) and len(r) > len(best):
                best = r
        return best


TOKENS = re.compile(r'/\*.*?(?:\*/|\Z)|//(?:\\\n|[^\n])*|"(?:\\.|[^"\\\n])*"?|\'(?:\\.|[^\'\\\n])*\'?', re.S)


def spaces(text):
    """text with every character but newlines turned into a space."""
    if "\n" not in text:
        return " " * len(text)
    return "\n".join(" " * len(part) for part in text.split("\n"))


def strip_comments(src, blank_strings):
    """src with comments (and, if blank_strings, string/char literal contents)
    replaced by spaces; newlines kept so line numbers stay."""
    def blank(m):
        t = m.group(0)
        if t[0] == "/":
            return spaces(t)
        if not blank_strings or len(t) < 2:
            return t
        return t[0] + spaces(t[1:-1]) + t[-1]
    return TOKENS.sub(blank, src)


class Checker:
    def __init__(self, root, facts):
        self.root, self.f = root, facts
        self.found = []     # (file, line, rule, message)
        self.lines = {}     # file -> source lines (for allow matching)
        self.includes = {}  # file -> [(line, target path)] of project headers

    def report(self, path, line, rule, msg):
        assert rule in RULES, rule  # every rule is documented in RULES and DEVELOPERS.md
        self.found.append((path, line, rule, msg))

    def sources(self):
        for d, dirs, files in os.walk(self.root):
            rel = os.path.relpath(d, self.root)
            dirs[:] = sorted(x for x in dirs if not x.startswith(".")
                             and not (rel == "." and x.startswith("build")))
            for name in sorted(files):
                if name.endswith((".c", ".h")):
                    yield os.path.normpath(os.path.join(rel, name))

    def check_file(self, path):
        with open(os.path.join(self.root, path), encoding="utf-8", errors="replace") as fh:
            src = fh.read()
        room = self.f.room_of(path)
        if room == "":
            self.report(path, 1, "room", "not in a room (LIBDIRS, proto, tests/unit|fuzz|lib|tools)")
            return
        code = strip_comments(src, blank_strings=False)
        self.includes[path] = []
        for m in INCLUDE_ALL.finditer(code):
            self.check_include(path, room, code.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
        if room is None:
            return
        # Whole-file searches (a loop per line is too slow for < 5 s); the
        # line of a hit is counted from its offset.
        found = {}  # (rule, line) -> names
        lower = code.lower()
        words = [w for w, allowed in KNOWLEDGE if not allowed(self.f, room) and w in lower]
        if words:
            no_includes = INCLUDE_ALL.sub("", code)  # keeps the newlines
            for m in re.finditer("|".join(words), no_includes, re.I):
                key = ("knowledge", no_includes.count("\n", 0, m.start()) + 1)
                found.setdefault(key, set()).add(m.group(0).lower())
        if room not in self.f.edge:
            bare = strip_comments(src, blank_strings=True)
            for rule, rx in CALLS:
                if rule == "print" and path == LOGGER[:-2] + ".c":
                    continue  # the logger is the one library file that prints
                for m in rx.finditer(bare):
                    if bare[m.start() - 1:m.start()] in (".", ">"):
                        continue  # obj.exit( or ops->abort(: a member, not the libc call
                    key = (rule, bare.count("\n", 0, m.start()) + 1)
                    found.setdefault(key, set()).update(g for g in m.groups() if g)
        edge = "/, ".join(sorted(self.f.edge)) + "/"
        why = {
            "knowledge": f"{room}/ names %s in code or a string (its DEPS do not reach that; a comment may explain)",
            "env": f"library code reads the environment: %s (take it as an option; only {edge} read it)",
            "exit": f"library code ends the process: %s (return -errno; only {edge} exit)",
            "print": f"library code prints: %s (return -errno and a detail; only {edge} print)",
        }
        for (rule, no), names in sorted(found.items()):
            self.report(path, no, rule, why[rule] % ", ".join(sorted(names)))

    def check_include(self, path, room, no, quote, target):
        rooms = self.f.rooms
        first = target.split("/")[0]
        exists = os.path.isfile(os.path.join(self.root, target))
        if quote == "<":
            if (first in rooms or first == "tests") and exists:
                self.report(path, no, "include-spelling", f'project header <{target}> is included with quotes')
            elif room is not None:
                for prefix, lib in EXTERNAL:
                    if (target == prefix or target.startswith(prefix) and prefix.endswith("/")) \
                            and lib not in self.f.ext.get(room, ()):
                        self.report(path, no, "external", f"<{target}> belongs to {lib}, which {room}/'s "
                                    f"DEPS do not link")
            return
        if GENERATED.search(target):
            if "/" not in target or target.startswith("google/protobuf/"):
                if room is not None and "proto" not in self.f.deps.get(room, ()):
                    self.report(path, no, "deps", f'"{target}" is generated from proto/, '
                                f"which DEPS_{room} does not list")
                return
        if target.startswith(("./", "../")) or "/./" in target or "/../" in target or "/" not in target:
            self.report(path, no, "include-spelling", f'"{target}": write the path from the repository '
                        f'root ("room/name.h")')
            return
        if not exists or not (first in rooms or first == "tests"):
            self.report(path, no, "include-spelling", f'"{target}" is no header under the repository root')
            return
        self.includes[path].append((no, target))
        owner = self.f.room_of(target)
        if room is None:
            return  # tests/unit, tests/fuzz, tests/lib may include anything
        if target == LOGGER and room not in self.f.edge and path != LOGGER[:-2] + ".c":
            self.report(path, no, "logger", f"{room}/ is a library: it returns errors and never logs "
                        f"(only {'/, '.join(sorted(self.f.edge))}/ include {LOGGER})")
        elif not owner:
            # test programs (tests/tools) may share test helpers; libraries may not
            if not (path.startswith("tests/") and target.startswith("tests/lib/")):
                self.report(path, no, "deps", f'"{target}" is test code; {room}/ may not include it')
        elif owner == room:
            pass
        elif owner not in self.f.deps.get(room, ()):
            self.report(path, no, "deps", f"{room}/ may not use {owner}/ "
                        f"(DEPS_{room} := {' '.join(self.f.deps.get(room, ()))})")
        elif target.endswith("-internal.h"):
            self.report(path, no, "public", f"{target} is private to {owner}/ (*-internal.h)")
        elif target not in self.f.public.get(owner, ()):
            self.report(path, no, "public", f"{target} is private to {owner}/ (not in PUBLIC_{owner})")

    def check_cycles(self):
        graph = {p: [t for _, t in incs] for p, incs in self.includes.items()}
        index, low, stack, on, sccs = {}, {}, [], set(), []

        def strong(v):  # Tarjan, iterative enough for include depths
            index[v] = low[v] = len(index)
            stack.append(v); on.add(v)
            for w in graph.get(v, ()):
                if w not in index:
                    strong(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v:
                        break
                sccs.append(comp)
        for v in sorted(graph):
            if v not in index:
                strong(v)
        for comp in sccs:
            members = set(comp)
            if len(comp) == 1 and comp[0] not in graph.get(comp[0], ()):
                continue
            start = min(comp)
            path = self.cycle_from(graph, start, members)
            line = next(no for no, t in self.includes[start] if t == path[1])
            self.report(start, line, "include-cycle", " -> ".join(path))

    @staticmethod
    def cycle_from(graph, start, members):
        """The shortest include chain from start back to itself, within its cycle."""
        prev, todo = {}, [start]
        while todo:
            v = todo.pop(0)
            for w in graph.get(v, ()):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return path[::-1] + [start]
                if w in members and w not in prev:
                    prev[w] = v
                    todo.append(w)
        return [start, start]

    def makefile_line(self, pattern):
        """Where in the Makefile a fact is written (the last assignment wins)."""
        found = 1
        try:
            with open(os.path.join(self.root, "Makefile")) as fh:
                for no, text in enumerate(fh, 1):
                    if re.match(pattern, text):
                        found = no
        except OSError:
            pass
        return found

    def check_deps_graph(self):
        f = self.f
        def at(room):
            return self.makefile_line(rf"\s*DEPS_{re.escape(room)}\s*[:+?]?=")
        for room in f.rooms:
            if room not in f.deps:
                self.report("Makefile", 1, "deps-graph", f"room {room} has no DEPS_{room} line")
        for room, deps in sorted(f.deps.items()):
            if room not in f.rooms:
                self.report("Makefile", at(room), "deps-graph", f"DEPS_{room}: {room} is no room (LIBDIRS, proto)")
                continue
            if not deps or deps[0] != room:
                self.report("Makefile", at(room), "deps-graph", f"DEPS_{room} must list {room} first")
            for d in deps:
                if d not in f.rooms:
                    self.report("Makefile", at(room), "deps-graph", f"DEPS_{room} lists {d}, which is no room")
                elif d != room:
                    missing = [x for x in f.deps.get(d, ()) if x not in deps]
                    if missing:
                        self.report("Makefile", at(room), "deps-graph", f"DEPS_{room} lists {d} but not what "
                                    f"{d} needs: {' '.join(missing)}")
        # Cycles between rooms: depth-first with colours.
        colour, trail = {}, []
        def visit(r):
            colour[r] = 1; trail.append(r)
            for d in f.deps.get(r, ()):
                if d == r:
                    continue  # a room lists itself; where is checked above
                if colour.get(d) == 1:
                    cyc = trail[trail.index(d):] + [d]
                    self.report("Makefile", at(d), "deps-graph", "DEPS cycle: " + " -> ".join(cyc))
                elif d in f.deps and not colour.get(d):
                    visit(d)
            colour[r] = 2; trail.pop()
        for r in sorted(f.deps):
            if not colour.get(r):
                visit(r)
        for room, headers in sorted(f.public.items()):
            line = self.makefile_line(rf"\s*PUBLIC_{re.escape(room)}\s*[:+?]?=")
            for h in headers:
                if room not in f.rooms:
                    self.report("Makefile", line, "deps-graph", f"PUBLIC_{room}: {room} is no room")
                    break
                if f.room_of(h) != room or not os.path.isfile(os.path.join(self.root, h)):
                    self.report("Makefile", line, "deps-graph", f"PUBLIC_{room} lists {h}, no header of {room}/")
                elif h.endswith("-internal.h"):
                    self.report("Makefile", line, "deps-graph", f"PUBLIC_{room} lists {h}: *-internal.h is private")

    def check_links(self, out):
        """out: `make -n -B V=1 BUILD=DRY_BUILD all`, every command `make all` would run."""
        build = DRY_BUILD
        seen = set()
        for text in out.splitlines():
            words = text.split()
            if "-o" not in words or not any(w.endswith(".a") for w in words):
                continue
            binary = words[words.index("-o") + 1]
            objs = [w for w in words if w.endswith(".o")]
            mains = [w[len(f"{build}/obj/"):-2] + ".c" for w in objs if w.startswith(f"{build}/obj/")]
            if not mains:
                continue
            room = self.f.room_of(mains[0])
            seen.update(mains)
            rel = binary[len(build) + 1:] if binary.startswith(build + "/") else binary
            line = self.rule_line(rel)
            allowed = self.f.deps.get(room, ())
            for w in words:
                m = re.fullmatch(re.escape(build) + r"/libsk-(.+)\.a", w)
                if w.endswith(".a") and (not m or m.group(1) not in allowed):
                    self.report("Makefile", line, "link", f"{rel} (room {room}) links {os.path.basename(w)}, "
                                f"outside DEPS_{room} := {' '.join(allowed)}")
            for src in mains[1:]:
                if self.f.room_of(src) not in allowed:
                    self.report("Makefile", line, "link", f"{rel} (room {room}) links {src}'s object, "
                                f"outside DEPS_{room}")
        for m in self.f.mains:
            if m not in seen:
                self.report("Makefile", 1, "link", f"no link line of `make all` starts from {m} (MAINS)")

    def rule_line(self, rel):
        """The Makefile line of the rule that links BUILD/rel (pattern rules too)."""
        try:
            with open(os.path.join(self.root, "Makefile")) as fh:
                for no, text in enumerate(fh, 1):
                    m = re.match(r"\$\(BUILD\)/(\S+?):", text)
                    if m and fnmatch.fnmatchcase(rel, m.group(1).replace("%", "*")):
                        return no
        except OSError:
            pass
        return 1

    def apply_allow(self):
        """Drop the violations tests/layering/allow lists; report allow lines that match none."""
        path = "tests/layering/allow"
        try:
            with open(os.path.join(self.root, path)) as fh:
                allow = fh.read().splitlines()
        except FileNotFoundError:
            allow = []
        def key_of(v):
            file, line, rule, _ = v
            lines = self.lines.get(file)
            if lines is None:
                try:
                    with open(os.path.join(self.root, file)) as fh:
                        lines = self.lines[file] = fh.read().splitlines()
                except OSError:
                    lines = []
            text = lines[line - 1] if 0 < line <= len(lines) else ""
            return f"{rule} {file}: {' '.join(text.split())}"
        found = sorted(set(self.found))
        keys = [key_of(v) for v in found]
        present, wanted, stale = Counter(keys), Counter(), []
        for no, text in enumerate(allow, 1):
            text = " ".join(text.split())
            if not text or text.startswith("#"):
                continue
            if present[text] > wanted[text]:
                wanted[text] += 1  # each allow line excuses one violation
            else:
                stale.append((path, no, "allow", "matches no current violation: the fix has landed "
                              "(or the line changed); remove or update this line"))
        kept = []
        for v, k in zip(found, keys):
            if wanted[k] > 0:
                wanted[k] -= 1
            else:
                kept.append(v)
        self.found = kept + stale


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                           else os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

    # The Makefile's own facts, not the calling make's flags and overrides.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKELEVEL")}

    def make(*args):  # started now, read later: the two runs overlap the scan
        return subprocess.Popen(["make", "-s", "--no-print-directory", "-C", root, *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def output(proc):
        out, err = proc.communicate()
        if proc.returncode != 0:
            sys.stderr.write(f"layering: make {' '.join(proc.args[5:])} failed:\n{err}")
            sys.exit(2)
        return out

    dry_run = make("-n", "-B", "V=1", f"BUILD={DRY_BUILD}", "all")
    facts = Facts(output(make("layering-facts")))
    if not facts.rooms or not facts.deps:
        sys.stderr.write("layering: `make layering-facts` printed no ROOMS/DEPS\n")
        sys.exit(2)
    c = Checker(root, facts)
    for path in c.sources():
        c.check_file(path)
    c.check_cycles()
    c.check_deps_graph()
    c.check_links(output(dry_run))
    c.apply_allow()
    for file, line, rule, msg in sorted(set(c.found), key=lambda v: (v[0], v[1], v[2])):
        print(f"{file}:{line}: {rule}: {msg}")
    if c.found:
        print(f"layering: {len(set(c.found))} violation(s); rules in DEVELOPERS.md, \"Layering\"", file=sys.stderr)
        return 1
    print("layering: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
