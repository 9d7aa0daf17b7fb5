#!/usr/bin/python3
# gst-metered — LGPL-2.1-or-later
"""examples/recorder against a real sender (gst-launch-1.0 meteredsink,
test pattern + tone), inside netns-run.sh's namespace: the recorder's
signalling is dropped once; it must reconnect and keep recording, rotate
its files (--max-size-time 4), report what happened, and leave files that
play (gst-discoverer-1.0) and demux into frames in PTS order.

argv: PATH/TO/metered-recorder PATH/TO/meteredsrc-tool"""

import glob
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import examples_lib as lib  # noqa: E402


def run():
    recorder_exe, tool = sys.argv[1], sys.argv[2]
    lib.check_namespace()
    tmp = lib.temp_dir("metered-recorder-test-")
    out = os.path.join(tmp, "rec")
    problems = []
    server = lib.Server(tmp)
    rec = snd = None
    try:
        channel = "rec-%d" % os.getpid()
        rec = lib.Child("recorder", [
            recorder_exe, "--url", server.url, "--token", server.mint("rec"),
            "--channel", channel, "--dir", out, "--max-size-time", "4"],
            env=lib.instrumented_env())
        lib.wait_for(lambda: rec.has(r"signalling connected as rec"), 20,
                     "the recorder to join")
        snd = lib.sender(server, server.mint("cam"), channel)
        lib.wait_for(lambda: rec.has(r"file opened .*/cam-00000\.mkv"), 40,
                     "the recorder's first file")
        lib.wait_for(lambda: rec.has(r"track video_cam_camera of peer cam: "
                                     r"recorded"), 5, "the video track")
        time.sleep(3)
        status = server.drop("rec")
        lib.log("admin drop of the recorder's signalling: HTTP %d" % status)
        lib.wait_for(lambda: rec.has(r"signalling reconnected as rec"), 30,
                     "the recorder to reconnect")
        opened = rec.count(r"file opened")
        # Recording goes on after the drop: a later file opens.
        lib.wait_for(lambda: rec.count(r"file opened") > opened, 30,
                     "a file opened after the reconnect")
        time.sleep(1)
        code = rec.stop()
        if code != 0:
            problems.append("the recorder exited with status %s" % code)
        for what in (r"peer joined cam", r"disconnected \(close code",
                     r"file closed .*/cam-00000\.mkv", r"all files finished"):
            if not rec.has(what):
                problems.append("the recorder never reported /%s/" % what)
        if rec.has(r"error from"):
            problems.append("errors: %s" % rec.has(r"error from"))
        files = sorted(glob.glob(os.path.join(out, "cam-*.mkv")))
        lib.log("files: %s" % [os.path.basename(f) for f in files])
        if len(files) < 2:
            problems.append("rotation: %d file(s), want 2 or more" % len(files))
        if os.listdir(out) and set(os.listdir(out)) != set(
                os.path.basename(f) for f in files):
            problems.append("files of other peers: %s" % os.listdir(out))
        for f in files:
            lib.check_recording(tool, f, 10, problems)
    finally:
        if rec:
            rec.stop()
        if snd:
            snd.stop()
        server.stop()
        if not problems:
            shutil.rmtree(tmp, ignore_errors=True)
    return problems


if __name__ == "__main__":
    lib.main_wrapper(run)
