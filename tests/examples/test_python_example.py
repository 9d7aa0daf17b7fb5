#!/usr/bin/python3
# gst-metered — LGPL-2.1-or-later
"""examples/python/metered-channel.py against metered-server, with
metered-cli as the other client: the example sees the cli in its presence
snapshot, the cli gets the example's publish, the example gets the cli's
publish and exits 0 (--exit-after 1).

argv: PATH/TO/metered-channel.py PATH/TO/metered-cli. Env: METERED_SERVER,
GI_TYPELIB_PATH and LD_LIBRARY_PATH (the build's src/)."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import examples_lib as lib  # noqa: E402


def run():
    example, cli_exe = sys.argv[1], sys.argv[2]
    tmp = lib.temp_dir("metered-python-example-")
    problems = []
    server = lib.Server(tmp)
    cli = ex = None
    channel = "py-%d" % os.getpid()
    try:
        cli = lib.Child("cli", [cli_exe, "--url", server.url, "--key",
                                "pk_dev_local", "subscribe", channel],
                        stdin=subprocess.PIPE)
        lib.wait_for(lambda: cli.has(r"peer-id=") and cli.has(r"subscribed|ack|presence"),
                     15, "metered-cli to subscribe")
        cli_id = cli.has(r"peer-id=")[0].split("peer-id=")[1].split()[0]
        ex = lib.Child("example", ["/usr/bin/python3", example, "--url",
                                   server.url, "--channel", channel,
                                   "--publish", '{"hello":"from python"}',
                                   "--exit-after", "1", "--timeout", "30"],
                       env=lib.gst_env())
        lib.wait_for(lambda: ex.has(r"^presence %s: joined %s" %
                                    (channel, cli_id)), 20,
                     "the example to see metered-cli in its presence")
        lib.wait_for(lambda: cli.has(r'from python'), 20,
                     "metered-cli to get the example's publish")
        cli.proc.stdin.write("publish %s %s\n" % (
            channel, json.dumps({"hello": "from metered-cli"},
                                 separators=(",", ":"))))
        cli.proc.stdin.flush()
        ex.proc.wait(40)
        ex.reader.join(5)
        if ex.proc.returncode != 0:
            problems.append("the example exited with %s" % ex.proc.returncode)
        if not ex.has(r'^message %s from %s: \{"hello":"from metered-cli"\}'
                      % (channel, cli_id)):
            problems.append("the example never printed the cli's message")
        if not ex.has(r'^published to %s: ' % channel):
            problems.append("the example never confirmed its publish")
    finally:
        if ex:
            ex.stop()
        if cli:
            cli.stop()
        server.stop()
    return problems


if __name__ == "__main__":
    lib.main_wrapper(run)
