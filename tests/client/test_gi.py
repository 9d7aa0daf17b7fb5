#!/usr/bin/python3
# gst-metered
# Copyright (C) 2026 gst-metered authors
#
# This library is free software; you can redistribute it and/or
# modify it under the terms of the GNU Library General Public
# License as published by the Free Software Foundation; either
# version 2.1 of the License, or (at your option) any later version.
#
# This library is distributed in the hope that it will be useful,
# but WITHOUT ANY WARRANTY; without even the implied warranty of
# MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
# Library General Public License for more details.
#
# You should have received a copy of the GNU Library General Public
# License along with this library; if not, see <https://www.gnu.org/licenses/>.

"""The signalling client through GObject Introspection (issue 3).

Two Metered.SignallingClient objects on a real metered-server: one
subscribes, the other publishes, the first gets ::message; both close.
TAP on stdout. Needs METERED_SERVER, GI_TYPELIB_PATH and LD_LIBRARY_PATH
(meson sets them)."""

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Metered", "1.0")
from gi.repository import GLib, Metered  # noqa: E402

TIMEOUT_S = 15
checks = []


def check(name, ok, detail=""):
    checks.append((name, bool(ok), detail))
    if not ok:
        raise AssertionError("%s %s" % (name, detail))


def wait_for(predicate, what, timeout_s=TIMEOUT_S):
    """Iterate the default main context until predicate() or the bound."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout_s
    tick = GLib.timeout_add(10, lambda: True)
    try:
        while not predicate() and time.monotonic() < deadline:
            ctx.iteration(True)
    finally:
        GLib.source_remove(tick)
    if not predicate():
        raise AssertionError("timed out waiting for " + what)


def call(client, start, finish, *args):
    """Runs one *_async/*_finish pair to completion."""
    box = {}

    def done(source, result, _data=None):
        try:
            box["ok"] = finish(result)
        except GLib.Error as e:
            box["error"] = e

    start(*args, None, done, None)
    wait_for(lambda: box, start.__name__)
    if "error" in box:
        raise box["error"]
    return box["ok"]


def die_with_parent():
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def start_server(tmp):
    port_file = os.path.join(tmp, "port")
    # The server dies with this process, even if it is killed.
    proc = subprocess.Popen(
        [os.environ["METERED_SERVER"], "--dev", "--port", "0",
         "--port-file", port_file, "--ip-connect-limit", "0"],
        stdout=subprocess.DEVNULL, preexec_fn=die_with_parent)
    deadline = time.monotonic() + TIMEOUT_S
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("metered-server did not start")
        time.sleep(0.01)
    with open(port_file) as f:
        return proc, int(f.read().strip())


def new_client(port):
    client = Metered.SignallingClient.new(None, None)
    client.set_property("url", "ws://127.0.0.1:%d" % port)
    client.set_property("api-key", "pk_dev_local")
    return client


def run():
    tmp = tempfile.mkdtemp(prefix="metered-gi-")
    proc, port = start_server(tmp)
    try:
        receiver = new_client(port)
        sender = new_client(port)
        check("api-key reads back hidden",
              receiver.get_property("api-key") == "***")
        check("idle before connect",
              receiver.get_state() == Metered.ClientState.IDLE)

        messages = []
        receiver.connect("message", lambda c, channel, frm, data, meta:
                         messages.append((channel, frm, data)))

        call(receiver, receiver.connect_async, receiver.connect_finish)
        call(sender, sender.connect_async, sender.connect_finish)
        check("connected",
              receiver.get_state() == Metered.ClientState.CONNECTED and
              receiver.props.state == Metered.ClientState.CONNECTED)
        sender_id = sender.dup_peer_id()
        check("peer ids", sender_id and receiver.props.peer_id and
              sender_id != receiver.props.peer_id)

        call(receiver, receiver.subscribe_async, receiver.subscribe_finish,
             "gi-room", False)
        call(sender, sender.publish_async, sender.publish_finish,
             "gi-room", '{"hello":"gi","n":1}')
        wait_for(lambda: messages, "::message")
        check("one message", len(messages) == 1, repr(messages))
        channel, frm, data = messages[0]
        check("message channel", channel == "gi-room", channel)
        check("message sender", frm == sender_id, frm)
        check("message data", data == '{"hello":"gi","n":1}', data)

        try:
            call(sender, sender.publish_async, sender.publish_finish,
                 "gi-room", "not json")
            check("invalid JSON refused", False)
        except GLib.Error as e:
            check("invalid JSON refused",
                  e.matches(Metered.client_error_quark(),
                            Metered.ClientError.INVALID_ARGUMENT), e.message)

        stats = receiver.get_stats().unpack()
        check("stats", stats["state"] == "connected" and
              stats["illegal-transitions"] == 0, repr(stats))

        receiver.close(0, None)
        sender.close(0, None)
        check("closed", receiver.get_state() == Metered.ClientState.CLOSED and
              sender.get_state() == Metered.ClientState.CLOSED)
        ctx = GLib.MainContext.default()
        while ctx.iteration(False):
            pass
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    failed = None
    try:
        run()
    except Exception:  # reported as a failed TAP test below
        failed = traceback.format_exc()
    n = len(checks) + (1 if failed and (not checks or checks[-1][1]) else 0)
    print("1..%d" % n)
    for i, (name, ok, detail) in enumerate(checks, 1):
        print("%s %d - %s%s" % ("ok" if ok else "not ok", i, name,
                                "" if ok else " # " + detail))
    if failed:
        if not checks or checks[-1][1]:
            print("not ok %d - run" % n)
        for line in failed.splitlines():
            print("# " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
