#!/usr/bin/python3
# gst-metered — LGPL-2.1-or-later
"""examples/ingest: metered-ingest with ingest.env's encoders as written,
the camera and microphone replaced by test sources, its token from a
token URL (a local HTTP server answering JWTs), inside netns-run.sh's
namespace; examples/recorder records it: the file must play and hold H.264
and Opus frames. The unit must pass systemd-analyze verify where systemd
is installed. SIGINT (the unit's KillSignal) must end it with status 0.

argv: PATH/TO/examples/ingest PATH/TO/metered-recorder
PATH/TO/meteredsrc-tool"""

import glob
import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import examples_lib as lib  # noqa: E402


def read_env_file(path):
    """systemd EnvironmentFile syntax, as far as ingest.env uses it."""
    env = {}
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, value = line.split("=", 1)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key] = value
    return env


def token_server(server, sub, served):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = server.mint(sub).encode()
            served.append(time.monotonic())
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def run():
    ingest_dir = os.path.abspath(sys.argv[1])
    recorder_exe, tool = sys.argv[2], sys.argv[3]
    lib.check_namespace()
    problems = []
    unit = os.path.join(ingest_dir, "metered-ingest.service")
    if shutil.which("systemd-analyze"):
        tmp_unit = os.path.join(lib.temp_dir("metered-unit-"),
                                "metered-ingest.service")
        # The paths it would have once installed, here.
        text = open(unit).read().replace(
            "/usr/local/bin/metered-ingest",
            os.path.join(ingest_dir, "metered-ingest")).replace(
            "/etc/metered/ingest.env", os.path.join(ingest_dir, "ingest.env"))
        open(tmp_unit, "w").write(text)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", tmp_unit],
                           capture_output=True, text=True)
        lib.log("systemd-analyze verify: status %d %s" % (r.returncode,
                                                          r.stderr.strip()))
        if r.returncode != 0 or r.stderr.strip():
            problems.append("systemd-analyze verify: %s" % r.stderr)
    else:
        lib.log("systemd-analyze not installed: unit not verified")

    tmp = lib.temp_dir("metered-ingest-test-")
    server = lib.Server(tmp)
    served = []
    httpd = token_server(server, "studio", served)
    channel = "ingest-%d" % os.getpid()
    env = lib.gst_env()
    env.update(read_env_file(os.path.join(ingest_dir, "ingest.env")))
    env.update({
        "METERED_URL": server.url,
        "METERED_CHANNEL": channel,
        "METERED_TOKEN_URL": "http://127.0.0.1:%d/token" %
                             httpd.server_address[1],
        "VIDEO_SOURCE": "videotestsrc is-live=true ! "
                        "video/x-raw,width=320,height=240,framerate=30/1",
        "AUDIO_SOURCE": "audiotestsrc is-live=true wave=ticks",
    })
    rec = ingest = None
    out = os.path.join(tmp, "rec")
    try:
        rec = lib.Child("recorder", [recorder_exe, "--url", server.url,
                                     "--token", server.mint("rec"),
                                     "--channel", channel, "--dir", out,
                                     "--max-size-time", "0"],
                        env=lib.instrumented_env())
        lib.wait_for(lambda: rec.has(r"signalling connected"), 20,
                     "the recorder to join")
        ingest = lib.Child("ingest", [os.path.join(ingest_dir,
                                                   "metered-ingest")], env=env)
        lib.wait_for(lambda: rec.has(r"file opened .*/studio-00000\.mkv"), 40,
                     "the recorder's file of the ingest box")
        time.sleep(4)
        if not served:
            problems.append("the token URL was never asked")
        code = ingest.stop(signal.SIGINT)
        if code != 0:
            problems.append("metered-ingest exited with %s after SIGINT" % code)
        if ingest.has(r"^ERROR"):
            problems.append("ingest errors: %s" % ingest.has(r"^ERROR"))
        rec.stop()
        files = sorted(glob.glob(os.path.join(out, "studio-*.mkv")))
        if not files:
            problems.append("no recording of the ingest box")
        for f in files:
            lib.check_recording(tool, f, 30, problems)
            duration, text = lib.discover(f)
            if not re.search(r"H\.264", text) or not re.search(r"Opus", text):
                problems.append("%s: not H.264 + Opus:\n%s" % (f, text))
    finally:
        for child in (ingest, rec):
            if child:
                child.stop()
        httpd.shutdown()
        server.stop()
    return problems


if __name__ == "__main__":
    lib.main_wrapper(run)
