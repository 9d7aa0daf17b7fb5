# gst-metered — LGPL-2.1-or-later
"""A meteredsink sender and a meteredsrc receiver in this process (GI),
on one channel of a metered-server --dev: for the tests that look at the
elements from Python."""

import os
import sys

import examples_lib as lib
import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def preload_sanitizers():
    """A sanitized build's plugin loads into this python3 only with the
    sanitizer runtimes preloaded (lib.gst_env()): start over with them."""
    env = lib.gst_env()
    if env.get("LD_PRELOAD", "") != os.environ.get("LD_PRELOAD", ""):
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


class Pair:
    """send: 30 fps videotestsrc (with audio: + audiotestsrc, and
    stream-metadata role=camera) ! meteredsink;
    recv: meteredsrc, each of its pads into a fakesink (sync=false), and
    on_pad(pad) called for each. Both PLAYING on return; stop() ends
    them."""

    def __init__(self, url, channel, output, audio=False, on_pad=None):
        Gst.init(None)
        key = "url=%s api-key=pk_dev_local channel=%s" % (url, channel)
        self.send = Gst.parse_launch(
            "videotestsrc is-live=true ! video/x-raw,width=320,height=240,"
            "framerate=30/1 ! meteredsink name=s %s%s" % (key, (
                " stream-metadata=meta,role=camera audiotestsrc "
                "is-live=true ! s." if audio else "")))
        self.sink = self.send.get_by_name("s")
        self.src = Gst.parse_launch("meteredsrc %s output=%s" % (key, output))
        self.recv = Gst.Pipeline.new("recv")
        self.recv.add(self.src)
        self.on_pad = on_pad
        self.src.connect("pad-added", self._pad_added)
        self.recv.set_state(Gst.State.PLAYING)
        self.send.set_state(Gst.State.PLAYING)

    def _pad_added(self, element, pad):
        fake = Gst.ElementFactory.make("fakesink")
        fake.set_property("sync", False)
        self.recv.add(fake)
        fake.sync_state_with_parent()
        pad.link(fake.get_static_pad("sink"))
        if self.on_pad:
            self.on_pad(pad)

    def stop(self):
        self.recv.set_state(Gst.State.NULL)
        self.send.set_state(Gst.State.NULL)
