#!/usr/bin/env python3
# gst-metered — LGPL-2.1-or-later
"""The docs check: docs/ must describe what the build really has.

- Every property, signal, action signal and pad template that
  gst-inspect-1.0 shows for meteredsink and meteredsrc has a row in
  docs/elements.md (in the element's section or a "Common ..." section),
  and the row's default, range, enum values, flags, signal arguments and
  pad direction/availability match gst-inspect's; every row of those tables
  names something that exists.
- Every metered/... structure the plugin builds is named in
  docs/elements.md, and every metered/... name there exists in the code.
- Every option of `metered-server --help-all` appears in
  docs/metered-server.md.
- Every relative link (and #anchor) in docs/*.md and README.md resolves.

Prints each failure on its own line and exits 1 if there is any.
"""

import argparse
import glob
import os
import re
import subprocess
import sys

ELEMENTS = ("meteredsink", "meteredsrc")
# GstObject/GstBin properties: a mention is enough.
INHERITED_PROPERTIES = {"name", "parent", "async-handling", "message-forward"}

failures = []


def fail(msg):
    failures.append(msg)


# --- running the tools -----------------------------------------------------


def sanitizer_env(preload):
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=0"
    if preload:
        env["LD_PRELOAD"] = " ".join(
            p for p in [preload, env.get("LD_PRELOAD", "")] if p
        )
    return env


def run(cmd, env):
    proc = subprocess.run(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if proc.returncode != 0:
        sys.exit(
            "%s failed (%d):\n%s%s"
            % (" ".join(cmd), proc.returncode, proc.stdout, proc.stderr)
        )
    return proc.stdout


# --- gst-inspect output ----------------------------------------------------


def parse_inspect(text):
    """{'properties': {name: {...}}, 'signals': {name: {...}},
    'templates': {name: {...}}}"""
    props, signals, templates = {}, {}, {}
    section = None
    current = None
    template = None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            section = line.rstrip(":").strip()
            current = template = None
            continue
        if section == "Pad Templates":
            m = re.match(r"^\s+(SRC|SINK) template: '(.+)'", line)
            if m:
                template = m.group(2)
                templates[template] = {"direction": m.group(1).lower()}
                continue
            m = re.match(r"^\s+Availability: (.+)$", line)
            if m and template:
                avail = m.group(1).strip().lower()
                templates[template]["availability"] = (
                    "request" if "request" in avail else avail
                )
        elif section == "Element Properties":
            m = re.match(r"^  ([a-z][a-z0-9-]*)\s*: ", line)
            if m:
                current = {"flags": "", "type": "", "enum": []}
                props[m.group(1)] = current
                continue
            if current is None:
                continue
            s = line.strip()
            if s.startswith("flags:"):
                current["flags"] = s[len("flags:") :].strip()
            elif not current["type"] and s:
                current["type"] = s
            else:
                m = re.match(r"^\(-?\d+\): (\S+)\s+-", s)
                if m:
                    current["enum"].append(m.group(1))
        elif section in ("Element Signals", "Element Actions"):
            m = re.match(r'^  "([a-z-]+)" :\s+(\S+) user_function \((.*)$', line)
            if m:
                current = {
                    "action": section == "Element Actions",
                    "return": m.group(2),
                    "args": [],
                }
                signals[m.group(1)] = current
                rest = m.group(3)
            elif current is not None:
                rest = line.strip()
            else:
                continue
            for part in rest.replace(");", "").split(","):
                part = part.strip()
                if not part:
                    continue
                ctype = part.split()[0].rstrip("*")
                if part.endswith("user_data") or part.endswith(" object"):
                    continue
                current["args"].append(ctype)
    return {"properties": props, "signals": signals, "templates": templates}


def expected_default(ptype):
    """What the doc's default cell must contain, or None."""
    m = re.search(r'Enum "[^"]+" Default: -?\d+, "([^"]+)"', ptype)
    if m:
        return "`%s`" % m.group(1)
    m = re.search(r"Default: (.+?)\s*$", ptype)
    if not m:
        return None
    value = m.group(1)
    if ptype.startswith("String") and value != "null":
        return "`%s`" % value  # keeps its quotes
    return "`%s`" % value


def expected_range(ptype):
    m = re.search(r"Range: (-?\d+) - (-?\d+)", ptype)
    return (m.group(1), m.group(2)) if m else None


def expected_flags(flags):
    if "writable" not in flags:
        return "read-only"
    if "PLAYING" in flags:
        return "playing"
    if "NULL or READY" in flags:
        return "ready"
    return None


# --- docs/elements.md ------------------------------------------------------


def strip_fences(text):
    """The text with fenced code blocks blanked (line count kept)."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append("")
            continue
        out.append("" if fenced else line)
    return "\n".join(out)


def split_sections(text):
    """[(level-2 title, body)] in order; text before the first is ''."""
    sections, title, body = [], "", []
    for line in strip_fences(text).splitlines():
        m = re.match(r"^## (.+)$", line)
        if m:
            sections.append((title, "\n".join(body)))
            title, body = m.group(1).strip(), []
        else:
            body.append(line)
    sections.append((title, "\n".join(body)))
    return sections


def table_rows(text):
    """[(header first cell, [cells])] of every markdown table row."""
    rows, header = [], None
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if header is None:
            header = cells[0].lower()
            continue
        if set(s) <= set("|-: "):
            continue
        rows.append((header, cells))
    return rows


def first_code(cell):
    m = re.match(r"^`([^`]+)`", cell)
    return m.group(1) if m else None


def check_property_row(element, name, info, cells):
    where = "docs/elements.md: %s property `%s`" % (element, name)
    if len(cells) < 6:
        fail("%s: the row needs 6 cells" % where)
        return
    default = expected_default(info["type"])
    if default and default not in cells[2]:
        fail(
            "%s: default %s (gst-inspect) not in %r" % (where, default, cells[2])
        )
    rng = expected_range(info["type"])
    if rng:
        numbers = set(re.findall(r"-?\d+", cells[3].replace(" ", "")))
        for n in rng:
            if n not in numbers:
                fail("%s: range bound %s not in %r" % (where, n, cells[3]))
    for nick in info["enum"]:
        if "`%s`" % nick not in cells[3]:
            fail("%s: enum value `%s` not in %r" % (where, nick, cells[3]))
    flags = expected_flags(info["flags"])
    if flags and cells[4] != flags:
        fail(
            "%s: flags %r, gst-inspect says %r (%s)"
            % (where, cells[4], flags, info["flags"])
        )


def check_signal_row(element, name, info, cells):
    where = "docs/elements.md: %s signal `%s`" % (element, name)
    if len(cells) < 4:
        fail("%s: the row needs 4 cells" % where)
        return
    kind = cells[1].lower()
    if info["action"] != kind.startswith("action"):
        fail(
            "%s: kind %r, gst-inspect lists it under %s"
            % (where, cells[1], "Element Actions" if info["action"] else "Element Signals")
        )
    m = re.match(r"^\((.*)\)\s*→\s*(\S+)", cells[2])
    if not m:
        fail("%s: arguments cell %r is not '(type name, ...) → type'" % (where, cells[2]))
        return
    args = [a.strip().split()[0].rstrip("*") for a in m.group(1).split(",") if a.strip()]
    if args != info["args"] or m.group(2) != info["return"]:
        fail(
            "%s: documented (%s) → %s, gst-inspect says (%s) → %s"
            % (where, ", ".join(args), m.group(2), ", ".join(info["args"]), info["return"])
        )


def check_template_row(element, name, info, cells):
    where = "docs/elements.md: %s pad template `%s`" % (element, name)
    if len(cells) < 3:
        fail("%s: the row needs direction and availability" % where)
        return
    if cells[1].lower() != info["direction"]:
        fail("%s: direction %r, gst-inspect says %s" % (where, cells[1], info["direction"]))
    if cells[2].lower() != info.get("availability"):
        fail(
            "%s: availability %r, gst-inspect says %s"
            % (where, cells[2], info.get("availability"))
        )


def check_elements(doc_path, inspected):
    text = open(doc_path, encoding="utf-8").read()
    sections = split_sections(text)
    common = "\n".join(b for t, b in sections if t.lower().startswith("common"))
    by_title = {t: b for t, b in sections}

    kinds = (
        ("properties", "property", check_property_row),
        ("signals", "signal", check_signal_row),
        ("templates", "pad template", check_template_row),
    )
    for element in ELEMENTS:
        if element not in by_title:
            fail("docs/elements.md: no section '## %s'" % element)
            continue
        scope = common + "\n" + by_title[element]
        rows = table_rows(scope)
        for key, header, check in kinds:
            documented = {}
            for h, cells in rows:
                if h == header and first_code(cells[0]):
                    documented.setdefault(first_code(cells[0]), cells)
            for name, info in sorted(inspected[element][key].items()):
                if key == "properties" and name in INHERITED_PROPERTIES:
                    if "`%s`" % name not in scope:
                        fail(
                            "docs/elements.md: %s property `%s` (inherited) is not mentioned"
                            % (element, name)
                        )
                    continue
                if name not in documented:
                    fail(
                        "docs/elements.md: %s %s `%s` is not documented "
                        "(no table row in '## %s' or a '## Common ...' section)"
                        % (element, header, name, element)
                    )
                    continue
                check(element, name, info, documented[name])

    # Rows that name something gone. A Common section's rows must exist on
    # both elements, an element section's on that element.
    for title, body in sections:
        if title.lower().startswith("common"):
            owners = ELEMENTS
        elif title in ELEMENTS:
            owners = (title,)
        else:
            continue
        for h, cells in table_rows(body):
            name = first_code(cells[0])
            for key, header, _ in kinds:
                if h != header or not name:
                    continue
                for element in owners:
                    if name not in inspected[element][key]:
                        fail(
                            "docs/elements.md: '## %s' documents %s `%s`, which %s does not have"
                            % (title, header, name, element)
                        )


def check_structures(doc_path, source_root):
    text = open(doc_path, encoding="utf-8").read()
    made = set()
    for path in glob.glob(os.path.join(source_root, "gst", "*.c")):
        src = open(path, encoding="utf-8").read()
        made |= set(
            re.findall(r'gst_structure_new(?:_empty)?\s*\(\s*"(metered/[a-z-]+)"', src)
        )
        made |= set(re.findall(r'set_name\s*\([^,]+,\s*"(metered/[a-z-]+)"', src))
    if not made:
        fail("no metered/... structure found in gst/*.c: is the source root right?")
    documented = set(re.findall(r"metered/[a-z][a-z-]*[a-z]", text))
    for name in sorted(made - documented):
        fail("docs/elements.md: structure/message %s (gst/) is not documented" % name)
    for name in sorted(documented - made):
        fail("docs/elements.md: mentions %s, which gst/ never builds" % name)


# --- metered-server --help ------------------------------------------------


def check_server(help_text, doc_path):
    text = open(doc_path, encoding="utf-8").read()
    options = []
    for line in help_text.splitlines():
        m = re.match(r"^\s+(?:-(\w), )?--([a-z][a-z0-9-]*)", line)
        if m and not m.group(2).startswith("help"):
            options.append(m.group(2))
    if not options:
        fail("metered-server --help-all listed no option")
    for opt in options:
        if not re.search(r"--%s(?![a-z0-9-])" % re.escape(opt), text):
            fail("docs/metered-server.md: option --%s (metered-server --help-all) is not documented" % opt)


# --- links -----------------------------------------------------------------


def slugify(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors_of(path):
    seen, out = {}, set()
    for line in strip_fences(open(path, encoding="utf-8").read()).splitlines():
        m = re.match(r"^#{1,6} (.+?)\s*#*\s*$", line)
        if not m:
            continue
        slug = slugify(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else "%s-%d" % (slug, n))
    return out


def check_links(source_root):
    files = sorted(glob.glob(os.path.join(source_root, "docs", "*.md")))
    files.append(os.path.join(source_root, "README.md"))
    checked = 0
    for path in files:
        rel = os.path.relpath(path, source_root)
        text = strip_fences(open(path, encoding="utf-8").read())
        text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # http:, https:, mailto:
            checked += 1
            file_part, _, anchor = target.partition("#")
            dest = (
                os.path.normpath(os.path.join(os.path.dirname(path), file_part))
                if file_part
                else path
            )
            if not os.path.realpath(dest).startswith(os.path.realpath(source_root) + os.sep):
                fail("%s: link %s leaves the repository" % (rel, target))
                continue
            if not os.path.exists(dest):
                fail("%s: link %s: %s does not exist" % (rel, target, os.path.relpath(dest, source_root)))
                continue
            if anchor and dest.endswith(".md") and anchor not in anchors_of(dest):
                fail("%s: link %s: no heading #%s in %s" % (rel, target, anchor, os.path.relpath(dest, source_root)))
    return checked


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--gst-inspect", default="gst-inspect-1.0")
    ap.add_argument("--server", required=True, help="the metered-server executable")
    args = ap.parse_args()

    # gst-inspect is not sanitized: a sanitized plugin needs the runtimes
    # preloaded (METERED_SANITIZER_PRELOAD, set by tests/docs/meson.build).
    inspect_env = sanitizer_env(os.environ.get("METERED_SANITIZER_PRELOAD", ""))
    inspected = {}
    for element in ELEMENTS:
        out = run([args.gst_inspect, element], inspect_env)
        inspected[element] = parse_inspect(out)
        n = {k: len(v) for k, v in inspected[element].items()}
        if not n["properties"] or not n["templates"]:
            sys.exit("could not parse gst-inspect-1.0 %s:\n%s" % (element, out))
        print(
            "%s: %d properties, %d signals, %d pad templates"
            % (element, n["properties"], n["signals"], n["templates"])
        )

    docs = os.path.join(args.source_root, "docs")
    check_elements(os.path.join(docs, "elements.md"), inspected)
    check_structures(os.path.join(docs, "elements.md"), args.source_root)
    check_server(
        run([args.server, "--help-all"], sanitizer_env("")),
        os.path.join(docs, "metered-server.md"),
    )
    links = check_links(args.source_root)
    print("%d relative links checked" % links)

    for f in failures:
        print("FAIL: " + f)
    if failures:
        print("%d docs problem(s)" % len(failures))
        return 1
    print("docs match gst-inspect-1.0 and metered-server --help-all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
