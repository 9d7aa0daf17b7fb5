#!/usr/bin/python3
# gst-metered — LGPL-2.1-or-later
"""meteredsrc's first frames keep the spacing they were captured with:
a 30 fps videotestsrc ! meteredsink sender and a meteredsrc
output=decoded receiver on one channel of metered-server --dev, inside
netns-run.sh's namespace; the PTS of the first 60 video frames out of
meteredsrc must step about 33 ms, not come out as a run of frames with
one timestamp (the sender used to queue its media until ICE and DTLS
were up and then send it in one burst, which the receiver's jitter
buffer stamped with its arrival time: 15 to 26 steps of 0 ms).

Env: METERED_SERVER, GST_PLUGIN_PATH."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import examples_lib as lib  # noqa: E402
import gst_pair  # noqa: E402

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

FRAMES = 60
MS = 1000000


def run():
    lib.check_namespace()
    gst_pair.preload_sanitizers()
    tmp = lib.temp_dir("metered-start-spacing-")
    server = lib.Server(tmp)
    problems = []
    channel = "spacing-%d" % os.getpid()
    pts = []
    pair = None

    def probe(pad, info):
        if len(pts) < FRAMES + 1:
            pts.append(info.get_buffer().pts)
        return Gst.PadProbeReturn.OK

    def on_pad(pad):
        if pad.get_name().startswith("video"):
            pad.add_probe(Gst.PadProbeType.BUFFER, probe)

    try:
        pair = gst_pair.Pair(server.url, channel, "decoded", on_pad=on_pad)
        lib.wait_for(lambda: time.sleep(0.1) or len(pts) > FRAMES, 60,
                     "%d video frames out of meteredsrc" % (FRAMES + 1))
        steps = [(b - a) // MS for a, b in zip(pts, pts[1:])]
        lib.log("PTS steps (ms) of the first %d frames: %s" % (FRAMES, steps))
        stuck = sum(1 for s in steps if s < 10)
        mean = sum(steps) / len(steps)
        if stuck > 2:
            problems.append("%d of %d steps under 10 ms: %s" %
                            (stuck, len(steps), steps))
        if not 30 <= mean <= 37:
            problems.append("mean step %.1f ms, the sender's is 33.3" % mean)
    finally:
        if pair:
            pair.stop()
        server.stop()
    return problems


if __name__ == "__main__":
    lib.main_wrapper(run)
