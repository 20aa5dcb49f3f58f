#!/usr/bin/env python3
"""Checks src/'s module structure (issue 19): no import cycles between files,
and every file imports only its own layer or the layers below it.

Layers, lowest first (src/lib.rs says the same):
  policy < config < observe < state < edge < ops < cli, main

A file's imports are the `crate::...` paths in it (`use` lines and inline
paths, braces expanded) and `super::...` paths, resolved to the file that
defines the module; its unit tests (from `#[cfg(test)]` on) are left out. Prints every violation and cycle; exits 1 if any.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
LAYERS = ["policy", "config", "observe", "state", "edge", "ops", "cli", "main"]


def module_path(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    return rel


def layer_of(mod):
    if not mod or mod == ["lib"]:
        return None
    return mod[0]


def files():
    out = {}
    for dirpath, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(dirpath, n)
                out[tuple(module_path(p))] = p
    return out


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def expand(prefix, text, i):
    """Paths starting at text[i] (just after `prefix::`), braces expanded."""
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*", text[i:])
    segs = m.group(0).split("::") if m else []
    j = i + (len(m.group(0)) if m else 0)
    if text[j:j + 3] == "::{" or (not segs and text[j:j + 1] == "{"):
        start = j + (3 if segs else 1)
        depth, k, item_start, items = 1, start, start, []
        while k < len(text) and depth:
            c = text[k]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            if (c == "," and depth == 1) or depth == 0:
                items.append(text[item_start:k].strip())
                item_start = k + 1
            k += 1
        out = []
        for item in items:
            if item and item != "self" and not item.startswith("*"):
                sub = re.match(r"[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*", item)
                if sub:
                    out.append(prefix + segs + sub.group(0).split("::"))
        out.append(prefix + segs)
        return out
    return [prefix + segs]


def resolve(path, known):
    """The longest prefix of `path` that names a module file."""
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in known:
            return tuple(path[:n])
    return None


def imports(mod, text, known):
    text = strip_comments(text)
    found = set()
    # Unit tests (an inline `#[cfg(test)] mod tests`, at the end of a file)
    # are not part of the product's structure.
    inline = text.find("#[cfg(test)]")
    if inline >= 0:
        text = text[:inline]
    for m in re.finditer(r"\b(crate|super)::", text):
        if m.group(1) == "crate":
            prefix = []
        else:
            prefix = list(mod[:-1])
        for path in expand(prefix, text, m.end()):
            target = resolve(path, known)
            if target and list(target) != mod and target != ():
                found.add(target)
    return found


def main():
    known = files()
    graph = {}
    for mod, path in known.items():
        with open(path, encoding="utf-8") as f:
            graph[mod] = imports(list(mod), f.read(), known)
    problems = []
    for mod, deps in sorted(graph.items()):
        mine = layer_of(list(mod))
        if mine not in LAYERS:
            continue
        for dep in sorted(deps):
            theirs = layer_of(list(dep))
            if theirs in LAYERS and LAYERS.index(theirs) > LAYERS.index(mine):
                problems.append(
                    f"layer: {'/'.join(mod)} ({mine}) imports {'/'.join(dep)} ({theirs})"
                )
    # Cycles: strongly connected components of more than one file.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted("/".join(c) for c in comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    for comp in sccs:
        problems.append("cycle: " + ", ".join(comp))
    for p in problems:
        print(p)
    print(f"check-layers: {len(graph)} files, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
