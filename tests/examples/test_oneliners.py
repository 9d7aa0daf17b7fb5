#!/usr/bin/python3
# gst-metered — LGPL-2.1-or-later
"""The README's gst-launch-1.0 one-liners that run headless, as written
(only the server URL, the build path and the file location replaced),
inside netns-run.sh's namespace: the test-pattern sender, the restream to
channel demo-2, the Matroska recorder twice (channel demo, and the
restreamed channel demo-2), and the display line with files for the
display and the speakers (Y4M and WAV). Both recordings must play
(gst-discoverer-1.0) and demux into frames in PTS order; a second and
more of decoded video and audio must reach the display line's files.

Not gst-launch-1.0 -v's "caps = ..." lines: they come from GstObject's
deep-notify signal, which is G_SIGNAL_NO_RECURSE, and GLib swallows an
emission on an object that another thread is emitting on at that moment
(it restarts the other one instead). The display's video and audio
threads negotiate at the same time: now and then every audio line was
missing while the audio played (seen with GST_DEBUG: caps and buffers at
the audio sink, no line printed).

argv: PATH/TO/README.md PATH/TO/meteredsrc-tool"""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import examples_lib as lib  # noqa: E402

RECORD_SECONDS = 8


# A second of opusdec's output in WAV: 48 kHz, 2 channels, S16.
WAV_SECOND = 48000 * 2 * 2


def file_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def one_liners(readme):
    """{comment: command} of the code block under the one-liners heading,
    and the block's mint() helper."""
    text = open(readme).read()
    m = re.search(r"### gst-launch-1\.0 one-liners\n.*?```sh\n(.*?)```",
                  text, re.S)
    if not m:
        raise AssertionError("no one-liners block in %s" % readme)
    lines, comment, mint = {}, None, None
    for line in m.group(1).splitlines():
        if line.startswith("mint()"):
            mint = line.split("#")[0].strip()
        elif line.startswith("# "):
            comment = line[2:]
        elif line.startswith("gst-launch-1.0") and comment:
            lines[comment] = line
            comment = None
    return lines, mint


def pick(lines, start):
    found = [cmd for comment, cmd in lines.items() if comment.startswith(start)]
    if len(found) != 1:
        raise AssertionError("README one-liner '%s...': %d found" %
                             (start, len(found)))
    return found[0]


def run():
    readme, tool = sys.argv[1], sys.argv[2]
    lib.check_namespace()
    lines, mint = one_liners(readme)
    send = pick(lines, "send a test pattern")
    record = pick(lines, "receive and record")
    restream = pick(lines, "restream")
    tmp = lib.temp_dir("metered-oneliners-")
    # No display here: what would be shown and played goes to files.
    shown = os.path.join(tmp, "display.y4m")
    played = os.path.join(tmp, "display.wav")
    display = pick(lines, "receive and display").replace(
        "autovideosink", "videoscale ! video/x-raw,width=64,height=36 ! "
        "y4menc ! filesink location=" + shown).replace(
        "autoaudiosink", "wavenc ! filesink location=" + played)
    server = lib.Server(tmp)
    problems = []
    mint = mint.replace("build/src/server/metered-server",
                        lib.require_env("METERED_SERVER"))

    def launch(name, cmd):
        cmd = cmd.replace("ws://127.0.0.1:8080", server.url)
        # exec: SIGINT reaches gst-launch-1.0 itself (-e: EOS, then exit).
        return lib.Child(name, ["bash", "-c", "set -e; %s; exec %s" %
                                (mint, cmd)], env=lib.gst_env())

    cam_file = os.path.join(tmp, "cam.mkv")
    relay_file = os.path.join(tmp, "relay.mkv")
    children = []
    try:
        children.append(launch("send", send))
        children.append(launch("restream", restream))
        rec = launch("record", record.replace("location=cam.mkv",
                                               "location=" + cam_file))
        # The same line on the restreamed channel, whose sender is relay-out.
        rec2 = launch("record-2", record.replace("location=cam.mkv",
                                                  "location=" + relay_file)
                      .replace("channel=demo ", "channel=demo-2 ")
                      .replace("token=$(mint rec)", "token=$(mint rec-2)")
                      .replace("video_cam_camera", "video_relay-out_camera"))
        show = launch("display", display)
        children += [rec, rec2, show]
        lib.wait_for(lambda: os.path.exists(cam_file) and
                     os.path.getsize(cam_file) > 20000 and
                     os.path.exists(relay_file) and
                     os.path.getsize(relay_file) > 20000, 60,
                     "both recordings to grow")
        time.sleep(RECORD_SECONDS)
        for child in (rec, rec2, show):
            code = child.stop(signal.SIGINT)
            if code != 0:
                problems.append("%s: gst-launch-1.0 -e exited with %s" %
                                (child.name, code))
        for child in children:
            if child.proc.poll() is not None and child not in (rec, rec2,
                                                               show):
                problems.append("%s exited early (%s)" %
                                (child.name, child.proc.returncode))
            if child.has(r"^ERROR"):
                problems.append("%s: %s" % (child.name, child.has(r"^ERROR")))
        frames = file_bytes(shown).count(b"FRAME")
        if frames < 30:
            problems.append("display: %d decoded video frames, want 30 "
                            "(a second) or more" % frames)
        audio = len(file_bytes(played))
        lib.log("display: %d video frames, %d bytes of audio" % (frames, audio))
        if audio < WAV_SECOND:
            problems.append("display: %d bytes of decoded audio, want %d "
                            "(a second) or more" % (audio, WAV_SECOND))
        for f in (cam_file, relay_file):
            duration = lib.check_recording(tool, f, 60, problems,
                                           want_audio=False)
            if duration is not None and duration < RECORD_SECONDS - 1:
                problems.append("%s: %.2f s, recorded for more than %d s" %
                                (f, duration, RECORD_SECONDS))
    finally:
        for child in children:
            child.stop(signal.SIGINT)
        server.stop()
    return problems


if __name__ == "__main__":
    lib.main_wrapper(run)
