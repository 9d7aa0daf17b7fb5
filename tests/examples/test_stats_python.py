#!/usr/bin/python3
# gst-metered — LGPL-2.1-or-later
"""The stats property of both elements read from Python (PyGObject with
Debian's gst-python, python3-gst-1.0), as an application would: a
videotestsrc + audiotestsrc ! meteredsink pipeline and a meteredsrc
pipeline on one channel of metered-server --dev, inside netns-run.sh's
namespace. Every field of both structures, and of every structure in
their lists (peer-stats, track-stats, pad-stats), is read with
Gst.Structure.get_value; the fields docs/elements.md documents must all
be there, and every field there must be documented.

argv: PATH/TO/docs/elements.md. Env: METERED_SERVER, GST_PLUGIN_PATH."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import examples_lib as lib  # noqa: E402
import gst_pair  # noqa: E402

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

COMMON = ["state", "reconnects", "reconnect-attempt", "last-close-code",
          "queue-depth", "pending-requests", "token-failures",
          "illegal-transitions", "ms-in-idle", "ms-in-connecting",
          "ms-in-connected", "ms-in-reconnecting", "ms-in-closed", "peers",
          "peer-stats"]
SINK = COMMON + ["key-units-requested", "key-units-sent", "track-stats"]
SRC = COMMON + ["pad-stats"]
NESTED = {
    "peer-stats": ["peer-id", "swaps", "connection-state", "packets-sent",
                   "packets-received"],
    "track-stats": ["pad", "track-id", "kind", "codec", "chain",
                    "buffers-sent", "key-units-requested", "key-units-sent"],
    "pad-stats": ["pad", "peer-id", "kind", "role", "ended", "buffers-in",
                  "buffers-out", "dropped-delta", "dropped-overflow", "gaps",
                  "discont", "sources", "key-unit-requests", "clamped",
                  "caps-changes", "has-source"],
}
SCALARS = (str, int, bool)


def read_structure(s, where, problems):
    """{field: Python value} of s, lists as lists of such dicts; every
    field read through get_value, as an application does."""
    out = {}
    for i in range(s.n_fields()):
        name = s.nth_field_name(i)
        try:
            value = s.get_value(name)
        except Exception as e:  # PyGObject could not convert it
            problems.append("%s.%s: %s" % (where, name, e))
            continue
        if isinstance(value, SCALARS):
            out[name] = value
            continue
        try:
            items = list(value)
        except TypeError:
            problems.append("%s.%s: a %s, not a value or a list" %
                            (where, name, type(value).__name__))
            continue
        out[name] = []
        for n, item in enumerate(items):
            if not isinstance(item, Gst.Structure):
                problems.append("%s.%s[%d]: a %s, not a structure" %
                                (where, name, n, type(item).__name__))
                continue
            out[name].append(read_structure(item, "%s.%s[%d]" %
                                            (where, name, n), problems))
    return out


def check_fields(stats, want, where, docs, problems):
    for name in want:
        if name not in stats:
            problems.append("%s: no field %s" % (where, name))
    for name, value in stats.items():
        if "`%s`" % name not in docs:
            problems.append("%s.%s: not in docs/elements.md" % (where, name))
        if name in NESTED:
            if not value:
                problems.append("%s.%s: empty" % (where, name))
            for n, item in enumerate(value):
                check_fields(item, NESTED[name], "%s.%s[%d]" % (where, name, n),
                             docs, problems)


def stats_of(element, where, problems):
    s = element.get_property("stats")
    if not isinstance(s, Gst.Structure):
        problems.append("%s: stats is a %s" % (where, type(s).__name__))
        return {}
    return read_structure(s, where, problems)


def iterate(seconds):
    ctx = GLib.MainContext.default()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ctx.iteration(False)
        time.sleep(0.02)


def run():
    docs = open(sys.argv[1]).read()
    lib.check_namespace()
    gst_pair.preload_sanitizers()
    tmp = lib.temp_dir("metered-stats-python-")
    server = lib.Server(tmp)
    problems = []
    channel = "stats-%d" % os.getpid()
    pair = None
    try:
        pair = gst_pair.Pair(server.url, channel, "encoded", audio=True)
        sink, src = pair.sink, pair.src

        def flowing():
            iterate(0.2)
            st = src.get_property("stats")
            pads = st.get_value("pad-stats") if st.has_field(
                "pad-stats") else []
            return len(pads) == 2 and all(
                p.get_value("buffers-out") > 0 for p in pads)

        lib.wait_for(flowing, 60, "meteredsrc to output video and audio")
        where = {"meteredsink": (sink, SINK), "meteredsrc": (src, SRC)}
        for name, (element, want) in where.items():
            stats = stats_of(element, name, problems)
            lib.log("%s stats: %r" % (name, stats))
            check_fields(stats, want, name, docs, problems)
        tracks = stats_of(sink, "meteredsink", [])["track-stats"]
        if sorted(t["kind"] for t in tracks) != ["audio", "video"] or \
                not all(t["buffers-sent"] > 0 for t in tracks):
            problems.append("meteredsink: track-stats %r" % tracks)
        pads = stats_of(src, "meteredsrc", [])["pad-stats"]
        if sorted(p["kind"] for p in pads) != ["audio", "video"] or \
                not all(p["role"] == "camera" for p in pads):
            problems.append("meteredsrc: pad-stats %r" % pads)
    finally:
        if pair:
            pair.stop()
        server.stop()
    return problems


if __name__ == "__main__":
    lib.main_wrapper(run)
