# gst-metered — LGPL-2.1-or-later
"""Shared pieces of the examples tests: metered-server as a child process
(--dev, port 0), tokens, the admin API, child processes whose output is
watched line by line, gst-launch-1.0 with the sanitizer runtimes when the
plugin is sanitized, and recordings checked with gst-discoverer-1.0 and
meteredsrc-tool --verify."""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

T0 = time.monotonic()


def log(text):
    print("[%6.2f s] %s" % (time.monotonic() - T0, text), flush=True)


def require_env(name):
    value = os.environ.get(name)
    if not value:
        raise SystemExit("FAIL: %s is not set (run through meson test)" % name)
    return value


def wait_for(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out after %d s waiting for %s" %
                         (timeout_s, what))


class Child:
    """A child process; stdout and stderr lines are kept (and logged with
    a prefix when verbose)."""

    def __init__(self, name, args, env=None, verbose=True, stdin=None):
        self.name = name
        self.lines = []
        self.lock = threading.Lock()
        log("start %s: %s" % (name, " ".join(args)[:300]))
        self.proc = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            text=True, errors="replace")
        self.verbose = verbose
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self.lock:
                self.lines.append(line)
            if self.verbose:
                print("  [%s] %s" % (self.name, line[:400]), flush=True)

    def output(self):
        with self.lock:
            return list(self.lines)

    def has(self, pattern):
        rx = re.compile(pattern)
        return [line for line in self.output() if rx.search(line)]

    def count(self, pattern):
        return len(self.has(pattern))

    def stop(self, sig=signal.SIGINT, timeout_s=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log("%s did not stop in %d s: SIGKILL" % (self.name, timeout_s))
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        return self.proc.returncode


class Server:
    def __init__(self, tmp, extra=()):
        self.exe = require_env("METERED_SERVER")
        self.tmp = tmp
        port_file = os.path.join(tmp, "port")
        self.child = Child("server", [self.exe, "--dev", "--port", "0",
                                      "--port-file", port_file,
                                      "--ip-connect-limit", "0"] + list(extra),
                           verbose=False)
        self.port = wait_for(lambda: self.read_port(port_file), 15,
                             "metered-server --port-file")
        self.url = "ws://127.0.0.1:%d" % self.port
        log("metered-server on %s" % self.url)

    @staticmethod
    def read_port(path):
        try:
            text = open(path).read().strip()
        except OSError:
            return 0
        return int(text) if text.isdigit() else 0

    def mint(self, sub):
        return subprocess.check_output(
            [self.exe, "--mint-token", "--dev", "--sub", sub, "--ttl", "900"],
            text=True).strip()

    def drop(self, peer_id):
        req = urllib.request.Request(
            "http://127.0.0.1:%d/v1/peers/%s/drop" % (self.port, peer_id),
            method="POST", headers={"Authorization": "Bearer admin_dev_local"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status

    def stop(self):
        return self.child.stop(signal.SIGTERM)


def gst_env():
    """The environment of uninstrumented GStreamer programs (gst-launch-1.0,
    gst-discoverer-1.0, python3): with a sanitized plugin, the sanitizer
    runtimes preloaded; their own leaks are not ours to count."""
    env = dict(os.environ)
    preload = env.get("METERED_SANITIZER_PRELOAD")
    if preload:
        env["LD_PRELOAD"] = preload.replace(" ", ":")
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    return env


def instrumented_env():
    """The environment of the sanitized example programs: tests/lsan.supp's
    suppressions plus lsan-openssl.supp's (OpenSSL's per-thread state)."""
    env = dict(os.environ)
    opts = env.get("LSAN_OPTIONS", "")
    m = re.search(r"suppressions=([^:]+)", opts)
    if m:
        extra = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "lsan-openssl.supp")
        fd, combined = tempfile.mkstemp(prefix="metered-lsan-", suffix=".supp")
        with os.fdopen(fd, "w") as f:
            f.write(open(m.group(1)).read() + "\n" + open(extra).read())
        env["LSAN_OPTIONS"] = opts.replace(m.group(0),
                                           "suppressions=" + combined)
    return env


def check_namespace():
    """WebRTC tests run inside tests/browser/netns-run.sh only."""
    if not os.environ.get("METERED_NETNS"):
        raise SystemExit("FAIL: not inside tests/browser/netns-run.sh")


def discover(path):
    """gst-discoverer-1.0's duration (seconds) and its stream lines."""
    out = subprocess.run(["gst-discoverer-1.0", path], capture_output=True,
                         text=True, timeout=60, env=gst_env()).stdout
    m = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", out)
    duration = (int(m.group(1)) * 3600 + int(m.group(2)) * 60 +
                float(m.group(3))) if m else None
    return duration, out


def verify(tool, path):
    """meteredsrc-tool --verify: per track frames, keys, PTS backwards."""
    out = subprocess.run([tool, "--verify", path], capture_output=True,
                         text=True, timeout=60, env=os.environ).stdout
    return json.loads(out.strip().splitlines()[-1])


def check_recording(tool, path, min_frames, problems, want_audio=True):
    """The file plays (a duration), demuxes, and has frames in PTS order."""
    duration, text = discover(path)
    result = verify(tool, path)
    tracks = result.get("tracks", [])
    video = [t for t in tracks if (t.get("caps") or "").startswith("video/")]
    audio = [t for t in tracks if (t.get("caps") or "").startswith("audio/")]
    log("%s: duration %s s, %s" % (os.path.basename(path), duration,
                                   json.dumps([(t["caps"][:12], t["frames"],
                                                t["backwards"])
                                               for t in tracks])))
    if not duration or duration <= 0:
        problems.append("%s: gst-discoverer-1.0 finds no duration:\n%s" %
                        (path, text))
    if result.get("error"):
        problems.append("%s: demux error %s" % (path, result["error"]))
    if not video or video[0]["frames"] < min_frames:
        problems.append("%s: video frames %s < %d" % (
            path, video[0]["frames"] if video else None, min_frames))
    if want_audio and not audio:
        problems.append("%s: no audio track" % path)
    for t in tracks:
        if t["backwards"]:
            problems.append("%s: %d PTS backwards" % (path, t["backwards"]))
    return duration


def sender(server, token, channel, seconds=None):
    """A README-style gst-launch-1.0 sender: test pattern + tone."""
    args = ["gst-launch-1.0", "-q", "videotestsrc", "is-live=true",
            "pattern=ball", "!",
            "video/x-raw,width=320,height=240,framerate=30/1", "!",
            "meteredsink", "name=s", "url=" + server.url, "token=" + token,
            "channel=" + channel, "stream-metadata=meta,role=camera",
            "reconnect-initial-delay=250", "reconnect-max-delay=2000",
            "audiotestsrc", "is-live=true", "wave=ticks", "!", "s."]
    return Child("sender", args, env=gst_env(), verbose=True)


def temp_dir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def main_wrapper(run):
    """Runs run() (which returns a list of problems); exit 0 only when it
    returned none."""
    try:
        problems = run()
    except Exception as e:  # a failed wait, a crash: the test fails
        import traceback
        traceback.print_exc()
        problems = ["exception: %s" % e]
    for p in problems:
        log("PROBLEM: %s" % p)
    log("PASS" if not problems else "FAIL (%d problems)" % len(problems))
    sys.exit(0 if not problems else 1)
