#!/usr/bin/python3
# gst-metered — LGPL-2.1-or-later
"""The demo that scripts/demo.sh runs: one channel, one sender, one
receiver, two faults, one report.

  metered-server --dev on 127.0.0.1 (port 0, then restarted on that port)
  sender:   videotestsrc is-live=true + audiotestsrc is-live=true
            -> meteredsink (VP8 + Opus)
  receiver: meteredsrc output=encoded -> matroskamux -> recording.mkv,
            with a live frame counter on the video pad

While media flows it cuts the receiver's signalling (admin API drop; the
receiver waits ~3 s before it reconnects) and then restarts the server
(SIGTERM, 2 s down, started again on the same port). Media does not
travel over the signalling socket; when an element comes back it may
replace the WebRTC connection under the same pads
(metered/connection-swapped): the recording goes on in the same file, and
the longest gap and lost frames say what the faults cost.

The report: frames sent and received, lost frames, the longest gap, the
reconnect timeline (the elements' metered/* bus messages), and the
recording, verified as one continuous file (gst-discoverer-1.0 duration
against the wall time, a matroskademux pass counting frames with
monotonic PTS). Exit status 0 only when recovery behaved.

--browser serves examples/viewer/ (with the SDK's browser bundle) from
metered-server and runs until Ctrl-C: a person watches the test pattern
in a browser and can send their camera back to the meteredsrc.

Environment: GST_PLUGIN_PATH must name the build's gst/ directory (and
must run inside tests/browser/netns-run.sh for the headless demo: libnice
gathers no loopback candidates)."""

import argparse
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Gst", "1.0")
gi.require_version("GstPbutils", "1.0")
from gi.repository import GLib, Gst, GstPbutils  # noqa: E402

FPS = 30
CHANNEL = "demo"
ADMIN = "admin_dev_local"  # metered-server --dev's admin token
SENDER_ID = "demo-sender"
RECEIVER_ID = "demo-receiver"
FRAMES_AFTER_FAULT = 60  # 2 s of video must arrive after each recovery

T0 = time.monotonic()


def now():
    return time.monotonic() - T0


def say(text):
    print("[%6.2f s] %s" % (now(), text), flush=True)


def wait_until(predicate, timeout_s, what):
    """Runs the main context until predicate() holds; False on timeout."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout_s
    tick = GLib.timeout_add(50, lambda: True)
    try:
        while not predicate() and time.monotonic() < deadline:
            ctx.iteration(True)
    finally:
        GLib.source_remove(tick)
    if not predicate():
        say("timed out after %d s waiting for %s" % (timeout_s, what))
        return False
    return True


def pause(seconds):
    """Runs the main context (bus messages, counters) for that long."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + seconds
    tick = GLib.timeout_add(50, lambda: True)
    while time.monotonic() < deadline:
        ctx.iteration(True)
    GLib.source_remove(tick)


def die_with_parent():
    """The server goes when the demo goes, however it ends."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Timeline:
    """What happened when: the demo's own actions and the bus messages."""

    def __init__(self):
        self.events = []  # (t, who, text)

    def add(self, who, text):
        self.events.append((now(), who, text))
        say("%-8s %s" % (who, text))

    def print(self):
        for t, who, text in self.events:
            print("    %6.2f s  %-8s %s" % (t, who, text))


class Server:
    """metered-server --dev as a child process, restartable on its port."""

    def __init__(self, exe, tmp, timeline, host="127.0.0.1", port=0,
                 web_root=None):
        self.exe, self.tmp, self.timeline = exe, tmp, timeline
        self.host, self.port, self.web_root = host, port, web_root
        self.proc = None
        self.log = open(os.path.join(tmp, "metered-server.log"), "ab")

    def start(self):
        port_file = os.path.join(self.tmp, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        args = [self.exe, "--dev", "--host", self.host,
                "--port", str(self.port), "--port-file", port_file,
                "--ip-connect-limit", "0", "--verbose"]
        if self.web_root:
            args += ["--web-root", self.web_root]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(port_file) as f:
                    text = f.read().strip()
                if text.isdigit() and int(text) > 0:
                    self.port = int(text)
                    self.timeline.add("server", "listening on %s" % self.url)
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("metered-server did not start (see %s)" %
                           self.log.name)

    def stop(self, sig=signal.SIGTERM):
        if not self.proc or self.proc.poll() is not None:
            return
        self.timeline.add("server", "sent %s" % signal.Signals(sig).name)
        self.proc.send_signal(sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.timeline.add("server", "exited (status %s)" % self.proc.returncode)

    @property
    def url(self):
        return "ws://%s:%d" % (self.host, self.port)

    def mint(self, sub):
        """A JWT whose sub is the peer id: the receiver sees the same peer
        (and keeps its pads) across the server restart."""
        return subprocess.check_output(
            [self.exe, "--mint-token", "--dev", "--sub", sub, "--ttl", "900"],
            text=True).strip()

    def drop(self, peer_id):
        """Admin API: close that peer's signalling socket (retryable)."""
        req = urllib.request.Request(
            "http://127.0.0.1:%d/v1/peers/%s/drop" % (self.port, peer_id),
            method="POST", headers={"Authorization": "Bearer " + ADMIN})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status


class Endpoint:
    """A pipeline with a metered element: follows its bus messages."""

    def __init__(self, who, description, timeline):
        self.who, self.timeline = who, timeline
        self.pipeline = Gst.parse_launch(description)
        if not isinstance(self.pipeline, Gst.Pipeline):
            # One element alone: gst_parse_launch returns just that.
            element, self.pipeline = self.pipeline, Gst.Pipeline.new(who)
            self.pipeline.add(element)
        self.element = self.pipeline.get_by_name("m")
        self.state = "idle"
        self.peer_id = None
        self.reconnects = []  # times of metered/connected is-reconnect=true
        self.errors = []
        self.eos = False
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message)

    def on_message(self, bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, _ = msg.parse_error()
            self.errors.append(err.message)
            self.timeline.add(self.who, "ERROR %s" % err.message)
        elif msg.type == Gst.MessageType.WARNING:
            err, _ = msg.parse_warning()
            self.timeline.add(self.who, "warning: %s" % err.message)
        elif msg.type == Gst.MessageType.EOS:
            self.eos = True
        elif msg.type == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s and s.get_name().startswith("metered/"):
                self.on_metered(s)

    def on_metered(self, s):
        name = s.get_name()[len("metered/"):]
        if name == "state-changed":
            self.state = s.get_string("to")
            text = "%s -> %s" % (s.get_string("from"), self.state)
        elif name == "disconnected":
            text = "disconnected (close code %d%s)" % (
                s.get_int("close-code")[1],
                ", will reconnect" if s.get_boolean("will-reconnect")[1]
                else ", for good")
        elif name == "connected":
            again = s.get_boolean("is-reconnect")[1]
            self.peer_id = s.get_string("peer-id")
            if again:
                self.reconnects.append(now())
            text = "connected as %s%s" % (s.get_string("peer-id"),
                                          " (reconnect)" if again else "")
        elif name in ("connection-swapped", "peer-joined", "peer-left"):
            text = "%s %s" % (name, s.get_string("peer-id"))
        else:
            text = s.to_string()
        # Signalling states are the timeline; the rest is context.
        self.timeline.add(self.who, text)

    def play(self):
        if self.pipeline.set_state(Gst.State.PLAYING) == \
                Gst.StateChangeReturn.FAILURE:
            raise RuntimeError("%s: the pipeline does not start" % self.who)

    def stop(self):
        self.pipeline.set_state(Gst.State.NULL)
        self.pipeline.get_bus().remove_signal_watch()


class Sender(Endpoint):
    def __init__(self, server, timeline, credential):
        super().__init__("sender", (
            "videotestsrc is-live=true pattern=ball ! "
            "video/x-raw,width=320,height=240,framerate=%d/1 ! "
            "identity name=counter silent=true ! "
            "meteredsink name=m url=%s channel=%s %s "
            "stream-metadata=meta,role=camera "
            "reconnect-initial-delay=500 reconnect-max-delay=2000 "
            "audiotestsrc is-live=true wave=ticks ! m."
        ) % (FPS, server.url, CHANNEL, credential), timeline)
        self.frames = 0
        pad = self.pipeline.get_by_name("counter").get_static_pad("src")
        pad.add_probe(Gst.PadProbeType.BUFFER, self.count)

    def count(self, pad, info):
        self.frames += 1
        return Gst.PadProbeReturn.OK

    def video_buffers_sent(self):
        """meteredsink's own count of encoded video frames it sent out."""
        # PyGObject cannot read a GstValueList field: parse the text form.
        text = self.element.get_property("stats").to_string()
        text = text.replace("\\", "")  # the nested structures' escapes
        m = re.search(r'kind=\(string\)video[^;]*?buffers-sent=\(guint64\)'
                      r'(\d+)', text)
        return int(m.group(1)) if m else None


class Receiver(Endpoint):
    """meteredsrc output=encoded: the first video and the first audio pad
    into matroskamux (no decoding), any other pad into a fakesink."""

    def __init__(self, server, timeline, credential, recording):
        super().__init__("receiver", (
            "meteredsrc name=m url=%s channel=%s %s output=encoded "
            "keep-pads-on-leave=true reconnect-initial-delay=3000 reconnect-max-delay=4000 "
            "matroskamux name=mux ! filesink location=\"%s\""
        ) % (server.url, CHANNEL, credential, recording), timeline)
        self.mux = self.pipeline.get_by_name("mux")
        self.recording = recording
        self.linked = {}  # kind -> blocked queue src pad and probe id
        self.frames = 0
        self.first_frame_at = None
        self.last_frame_at = None
        self.max_arrival_gap = 0.0
        self.first_pts = self.last_pts = None
        self.max_pts_gap = 0
        self.backwards = 0
        self.element.connect("pad-added", self.on_pad_added)

    def on_pad_added(self, element, pad):
        name = pad.get_name()
        kind = name.split("_", 1)[0]
        queue = Gst.ElementFactory.make("queue")
        queue.set_property("max-size-time", 3 * Gst.SECOND)
        self.pipeline.add(queue)
        recorded = kind in ("video", "audio") and kind not in self.linked
        if recorded:
            qsrc = queue.get_static_pad("src")
            qsrc.link(self.mux.request_pad_simple(kind + "_%u"))
            # A muxer writes its header once: hold each track until both
            # have their muxer pad.
            block = qsrc.add_probe(Gst.PadProbeType.BLOCK_DOWNSTREAM,
                                   lambda *a: Gst.PadProbeReturn.OK)
            self.linked[kind] = (qsrc, block)
            if kind == "video":
                pad.add_probe(Gst.PadProbeType.BUFFER, self.count)
            if len(self.linked) == 2:
                for qpad, probe in self.linked.values():
                    qpad.remove_probe(probe)
        else:
            sink = Gst.ElementFactory.make("fakesink")
            sink.set_property("async", False)
            self.pipeline.add(sink)
            queue.link(sink)
            sink.sync_state_with_parent()
        queue.sync_state_with_parent()
        pad.link(queue.get_static_pad("sink"))
        self.timeline.add(self.who, "pad %s -> %s" % (
            name, "recording" if recorded else "fakesink"))

    def count(self, pad, info):
        t = time.monotonic()
        pts = info.get_buffer().pts
        self.frames += 1
        if self.last_frame_at is None:
            self.first_frame_at = t
        else:
            self.max_arrival_gap = max(self.max_arrival_gap,
                                       t - self.last_frame_at)
        self.last_frame_at = t
        if pts != Gst.CLOCK_TIME_NONE:
            if self.last_pts is None:
                self.first_pts = pts
            elif pts < self.last_pts:
                self.backwards += 1
            else:
                self.max_pts_gap = max(self.max_pts_gap, pts - self.last_pts)
            self.last_pts = pts
        return Gst.PadProbeReturn.OK

    def finish(self):
        """EOS through the muxer: the file gets its index and duration."""
        self.pipeline.send_event(Gst.Event.new_eos())
        ok = wait_until(lambda: self.eos or self.errors, 20,
                        "EOS through the muxer")
        self.stop()
        return ok and self.eos


def discover_duration(path):
    """The duration gst-discoverer-1.0 prints (GstDiscoverer without it)."""
    if shutil.which("gst-discoverer-1.0"):
        out = subprocess.run(["gst-discoverer-1.0", path], capture_output=True,
                             text=True, timeout=60).stdout
        m = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", out)
        return (int(m.group(1)) * 3600 + int(m.group(2)) * 60 +
                float(m.group(3))) if m else None
    info = GstPbutils.Discoverer.new(30 * Gst.SECOND).discover_uri(
        Gst.filename_to_uri(path))
    return info.get_duration() / Gst.SECOND


def demux_pass(path):
    """matroskademux: per track, frames, PTS going backwards, largest PTS
    step, and the PTS span."""
    pipeline = Gst.parse_launch('filesrc location="%s" ! matroskademux name=d'
                                % path)
    tracks = {}

    def probe(pad, info, t):
        pts = info.get_buffer().pts
        t["frames"] += 1
        if pts != Gst.CLOCK_TIME_NONE:
            if t["last"] is not None:
                if pts < t["last"]:
                    t["backwards"] += 1
                else:
                    t["max_gap"] = max(t["max_gap"], pts - t["last"])
            else:
                t["first"] = pts
            t["last"] = pts
        return Gst.PadProbeReturn.OK

    def on_pad(demux, pad):
        t = tracks[pad.get_name()] = dict(frames=0, backwards=0, max_gap=0,
                                          first=None, last=None)
        sink = Gst.ElementFactory.make("fakesink")
        sink.set_property("sync", False)
        sink.set_property("async", False)
        pipeline.add(sink)
        sink.sync_state_with_parent()
        pad.add_probe(Gst.PadProbeType.BUFFER, probe, t)
        pad.link(sink.get_static_pad("sink"))

    pipeline.get_by_name("d").connect("pad-added", on_pad)
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(
        60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    error = None
    if not msg:
        error = "timeout"
    elif msg.type == Gst.MessageType.ERROR:
        error = msg.parse_error()[0].message
    pipeline.set_state(Gst.State.NULL)
    return tracks, error


class Demo:
    def __init__(self, args):
        self.args = args
        self.timeline = Timeline()
        self.checks = []  # (what, ok, detail)

    def check(self, what, ok, detail=""):
        self.checks.append((what, bool(ok), detail))
        if not ok:
            say("CHECK FAILED: %s %s" % (what, detail))
        return ok

    def live_counter(self):
        say("live: sent %5d  received %5d  sender %-12s receiver %s" % (
            self.sender.frames, self.receiver.frames, self.sender.state,
            self.receiver.state))
        return True

    def frames_after(self, n, what):
        start = self.receiver.frames
        ok = wait_until(lambda: self.receiver.frames >= start + n, 30,
                        "%d frames after %s" % (n, what))
        return self.check("frames received after %s" % what, ok,
                          "%d frames in 30 s" % (self.receiver.frames - start))

    def run(self):
        out = self.args.out
        os.makedirs(out, exist_ok=True)
        recording = os.path.join(out, "recording.mkv")
        self.server = Server(self.args.server, out, self.timeline)
        self.server.start()
        self.receiver = Receiver(self.server, self.timeline, "token=%s" %
                                 self.server.mint(RECEIVER_ID), recording)
        self.sender = Sender(self.server, self.timeline, "token=%s" %
                             self.server.mint(SENDER_ID))
        counter = GLib.timeout_add(1000, self.live_counter)
        try:
            self.scenario()
        finally:
            GLib.source_remove(counter)
            try:
                self.encoded = self.sender.video_buffers_sent()
            finally:
                self.sender.stop()
                self.server.stop()
        self.report(recording)
        return all(ok for _, ok, _ in self.checks)

    def scenario(self):
        r, s = self.receiver, self.sender
        r.play()
        wait_until(lambda: r.state == "connected", 20, "the receiver to join")
        s.play()
        if not self.check("first frames arrive",
                          wait_until(lambda: r.frames >= 3 * FPS, 40,
                                     "3 s of video at the receiver"),
                          "%d frames" % r.frames):
            return

        # Fault 1: the receiver's signalling socket closes; it waits ~3 s
        # (reconnect-initial-delay) before it tries again.
        n = len(r.reconnects)
        status = self.server.drop(RECEIVER_ID)
        self.timeline.add("demo", "admin API: drop the receiver's signalling "
                          "(HTTP %d)" % status)
        self.check("receiver reconnects after the drop",
                   wait_until(lambda: len(r.reconnects) > n, 30,
                              "the receiver to reconnect"))
        self.frames_after(FRAMES_AFTER_FAULT, "the signalling drop")

        # Fault 2: the server goes away for 2 s and comes back on the
        # same port.
        nr, ns = len(r.reconnects), len(s.reconnects)
        self.server.stop(signal.SIGTERM)
        pause(2)
        self.server.start()
        self.check("both reconnect after the server restart",
                   wait_until(lambda: len(r.reconnects) > nr and
                              len(s.reconnects) > ns, 40,
                              "both elements to reconnect"))
        self.frames_after(FRAMES_AFTER_FAULT, "the server restart")
        pause(2)
        self.check("both signalling states end connected",
                   r.state == "connected" and s.state == "connected",
                   "sender %s, receiver %s" % (s.state, r.state))
        self.timeline.add("demo", "EOS to the receiver")
        self.check("the recording ends with EOS", r.finish())
        self.check("no error on the pipelines", not r.errors and not s.errors,
                   "; ".join(r.errors + s.errors))

    def report(self, recording):
        r, s = self.receiver, self.sender
        wall = (r.last_frame_at - r.first_frame_at) if r.first_frame_at \
            else 0.0
        span = ((r.last_pts - r.first_pts) / Gst.SECOND
                if r.first_pts is not None else 0.0)
        expected = round(span * FPS) + 1 if r.frames else 0
        duration = tracks = error = None
        if os.path.exists(recording) and os.path.getsize(recording) > 0:
            duration = discover_duration(recording)
            tracks, error = demux_pass(recording)
        video = next((t for n, t in (tracks or {}).items()
                      if n.startswith("video")), None)
        audio = next((t for n, t in (tracks or {}).items()
                      if n.startswith("audio")), None)
        self.check("recording demuxes", tracks is not None and not error,
                   error or "")
        self.check("recording has a video and an audio track",
                   video and audio, "tracks %s" % list((tracks or {}).keys()))
        if video:
            self.check("every received frame is in the file",
                       abs(video["frames"] - r.frames) <= 2,
                       "%d in the file, %d received" % (video["frames"],
                                                        r.frames))
            self.check("PTS monotonic in the file",
                       video["backwards"] == 0 and
                       (audio or {}).get("backwards", 0) == 0)
        self.check("one continuous file: duration ~ wall time",
                   duration is not None and abs(duration - wall) <= 2.0 +
                   0.05 * wall, "duration %s s, wall %.2f s" % (duration, wall))

        print()
        print("gst-metered demo report")
        print("  channel           %s on %s (metered-server --dev, "
              "restarted once on the same port)" % (CHANNEL, self.server.url))
        print("  frames sent       %d (video, %d fps test pattern; + Opus "
              "audio)" % (s.frames, FPS))
        print("  frames encoded    %s (meteredsink: video frames out of "
              "its VP8 encoder)" % self.encoded)
        print("  frames received   %d (meteredsrc video pad, encoded)" %
              r.frames)
        if self.encoded is not None:
            # Every frame the encoder sent out should reach the receiver
            # (the sender starts after the receiver joined).
            print("  lost frames       %d (encoded - received: frames cut "
                  "off by the faults, and the\n                    first "
                  "ones before the connection was up)" %
                  max(0, self.encoded - r.frames))
        else:
            print("  lost frames       %d (missing from the %.2f s received "
                  "span, %d fps)" % (max(0, expected - r.frames), span, FPS))
        print("  longest gap       %.0f ms between frame timestamps, %.0f ms "
              "between arrivals" % (r.max_pts_gap / Gst.MSECOND,
                                    r.max_arrival_gap * 1000))
        print("  reconnects        sender %d, receiver %d" % (
            len(s.reconnects), len(r.reconnects)))
        print("  timeline:")
        self.timeline.print()
        print("  recording         %s" % recording)
        if video:
            print("    gst-discoverer-1.0 duration %.2f s, wall time %.2f s; "
                  "video %d frames (largest PTS step %.0f ms), audio %d "
                  "frames; PTS backwards: %d" % (
                      duration or 0, wall, video["frames"],
                      video["max_gap"] / Gst.MSECOND,
                      (audio or {}).get("frames", 0),
                      video["backwards"] + (audio or {}).get("backwards", 0)))
        print("  checks:")
        for what, ok, detail in self.checks:
            print("    %s %s%s" % ("ok  " if ok else "FAIL", what,
                                   "" if ok or not detail else " (%s)" % detail))
        ok = all(ok for _, ok, _ in self.checks)
        print("RESULT: %s" % ("PASS: recovered from a signalling drop and a "
                              "server restart" if ok else "FAIL"))


def browser(args):
    """--browser: serve examples/viewer/ and run until Ctrl-C."""
    out = args.out
    www = os.path.join(out, "www")
    os.makedirs(www, exist_ok=True)
    for f in os.listdir(args.viewer):
        shutil.copy(os.path.join(args.viewer, f), www)
    shutil.copy(args.sdk, os.path.join(www, "metered-realtime.umd.js"))
    timeline = Timeline()
    server = Server(args.server, out, timeline, port=args.port, web_root=www)
    server.start()
    try:
        return browser_run(args, server, timeline)
    finally:
        server.stop()


def browser_run(args, server, timeline):
    key = "api-key=pk_dev_local"
    sender = Sender(server, timeline, key)
    # The browser's camera: decoded, shown if there is a display.
    shown = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    receiver = Endpoint("camera", "meteredsrc name=m url=%s channel=%s %s "
                        "output=decoded" % (server.url, CHANNEL, key), timeline)
    frames = {"n": 0}

    def count(pad, info):
        frames["n"] += 1
        return Gst.PadProbeReturn.OK

    def on_pad(element, pad):
        # The channel carries our own test pattern too: not a camera.
        ours = sender.peer_id and "_%s_" % sender.peer_id in pad.get_name()
        video = pad.get_name().startswith("video") and not ours
        chain = ("queue ! videoconvert ! autovideosink" if video and shown
                 else "queue ! fakesink async=false")
        bin_ = Gst.parse_bin_from_description(chain, True)
        receiver.pipeline.add(bin_)
        bin_.sync_state_with_parent()
        if video:
            pad.add_probe(Gst.PadProbeType.BUFFER, count)
        pad.link(bin_.get_static_pad("sink"))
        timeline.add("camera", "pad %s%s" % (
            pad.get_name(), " (our own sender: ignored)" if ours else
            " -> window" if video and shown else ""))

    receiver.element.connect("pad-added", on_pad)
    receiver.play()
    sender.play()
    print("\nOpen http://127.0.0.1:%d/ in a browser on this machine: it shows "
          "the test pattern of channel '%s'; 'Send my camera' sends your "
          "camera to the meteredsrc here. Ctrl-C stops.\n" %
          (server.port, CHANNEL), flush=True)
    loop = GLib.MainLoop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)

    def tick():
        say("live: sent %d frames; camera frames received %d; sender %s, "
            "receiver %s" % (sender.frames, frames["n"], sender.state,
                             receiver.state))
        return True

    GLib.timeout_add_seconds(5, tick)
    loop.run()
    receiver.stop()
    sender.stop()
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", required=True, help="metered-server binary")
    p.add_argument("--out", help="directory for the recording and logs")
    p.add_argument("--browser", action="store_true")
    p.add_argument("--port", type=int, default=8080, help="--browser: port")
    p.add_argument("--viewer", help="--browser: examples/viewer")
    p.add_argument("--sdk", help="--browser: the SDK's index.umd.js")
    args = p.parse_args()
    args.out = args.out or tempfile.mkdtemp(prefix="metered-demo-")
    Gst.init(None)
    if not Gst.ElementFactory.find("meteredsink"):
        print("demo.py: meteredsink not found (GST_PLUGIN_PATH=%s)" %
              os.environ.get("GST_PLUGIN_PATH"), file=sys.stderr)
        return 2
    if args.browser:
        return 0 if browser(args) else 1
    return 0 if Demo(args).run() else 1


if __name__ == "__main__":
    sys.exit(main())
