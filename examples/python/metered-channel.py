#!/usr/bin/python3
# gst-metered — LGPL-2.1-or-later
"""Join a Metered channel from Python through libmetered's GObject
Introspection bindings (Metered-1.0): print who is there (presence) and
what they publish, and publish messages of our own.

  metered-channel.py --channel demo --publish '{"hello":"from python"}'

Needs the typelib and the library, from an installed libmetered or from a
build directory:
  GI_TYPELIB_PATH=build/src LD_LIBRARY_PATH=build/src ./metered-channel.py
Runs until Ctrl-C, or until --exit-after messages have arrived."""

import argparse
import json
import signal
import sys

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Metered", "1.0")
from gi.repository import GLib, Metered  # noqa: E402


def say(text):
    print(text, flush=True)


class Channel:
    def __init__(self, args):
        self.args = args
        self.loop = GLib.MainLoop()
        self.received = 0
        self.status = 0
        # Messages and signals arrive on the thread-default main context
        # (None: the default one, which self.loop runs).
        self.client = Metered.SignallingClient.new(None, None)
        self.client.set_property("url", args.url)
        if args.token:
            self.client.set_property("token", args.token)
        else:
            self.client.set_property("api-key", args.api_key)
        self.client.connect("state-changed", self.on_state)
        self.client.connect("connected", self.on_connected)
        self.client.connect("presence", self.on_presence)
        self.client.connect("message", self.on_message)

    # --- signals ---

    def on_state(self, client, old, new):
        say("state %s -> %s" % (old.value_nick, new.value_nick))

    def on_connected(self, client, peer_id, server_time, expires_at,
                     is_reconnect, max_message_size, ice_servers):
        # The client resubscribes by itself after a reconnect.
        say("%s as %s" % ("reconnected" if is_reconnect else "connected",
                          peer_id))

    def on_presence(self, client, channel, joined, left):
        # a(sms): peer ids with their metadata (JSON text or None).
        for peer_id, meta in joined.unpack():
            say("presence %s: joined %s%s" % (channel, peer_id,
                                              " " + meta if meta else ""))
        for peer_id, _ in left.unpack():
            say("presence %s: left %s" % (channel, peer_id))

    def on_message(self, client, channel, sender, data, sender_meta):
        say("message %s from %s: %s" % (channel, sender, data))
        self.received += 1
        if self.args.exit_after and self.received >= self.args.exit_after:
            self.loop.quit()

    # --- requests: every *_async has its *_finish ---

    def fail(self, what, error):
        say("error: %s: %s" % (what, error.message))
        self.status = 1
        self.loop.quit()

    def start(self):
        self.client.connect_async(None, self.connected)

    def connected(self, client, result):
        try:
            client.connect_finish(result)
        except GLib.Error as e:
            return self.fail("connect", e)
        client.subscribe_async(self.args.channel, False, None,
                               self.subscribed)

    def subscribed(self, client, result):
        try:
            client.subscribe_finish(result)
        except GLib.Error as e:
            return self.fail("subscribe", e)
        say("subscribed to %s" % self.args.channel)
        for data in self.args.publish:
            client.publish_async(self.args.channel, data, None,
                                 self.published, data)

    def published(self, client, result, data):
        try:
            client.publish_finish(result)
        except GLib.Error as e:
            return self.fail("publish", e)
        say("published to %s: %s" % (self.args.channel, data))

    def run(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, self.loop.quit)
        if self.args.timeout:
            GLib.timeout_add_seconds(self.args.timeout, self.timed_out)
        self.start()
        self.loop.run()
        self.client.close(0, None)  # 0: a normal close (1000)
        return self.status

    def timed_out(self):
        say("error: no %d message(s) in %d s" % (self.args.exit_after,
                                                 self.args.timeout))
        self.status = 1
        self.loop.quit()
        return GLib.SOURCE_REMOVE


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default="ws://127.0.0.1:8080")
    p.add_argument("--api-key", default="pk_dev_local")
    p.add_argument("--token", help="a JWT instead of the API key")
    p.add_argument("--channel", default="demo")
    p.add_argument("--publish", action="append", default=[], metavar="JSON",
                   help="publish this JSON value once subscribed "
                   "(repeatable)")
    p.add_argument("--exit-after", type=int, default=0, metavar="N",
                   help="exit after N messages (0: run until Ctrl-C)")
    p.add_argument("--timeout", type=int, default=0, metavar="S",
                   help="with --exit-after: fail after S seconds")
    args = p.parse_args()
    for data in args.publish:
        json.loads(data)  # fail early on a typo
    return Channel(args).run()


if __name__ == "__main__":
    sys.exit(main())
