#!/usr/bin/python3
# gst-metered — LGPL-2.1-or-later
"""The README's demo command in its non-interactive form,
`scripts/demo.sh --no-build --builddir BUILD --out DIR`, against this
build: it must exit 0 and its report must say what a user reads there:
frames sent and received, both elements reconnected (the receiver after
the drop and the restart, the sender after the restart), the recording
exists, plays as one file and every check is ok.

argv: PATH/TO/scripts/demo.sh BUILDDIR"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import examples_lib as lib  # noqa: E402


def run():
    demo, builddir = sys.argv[1], sys.argv[2]
    out = lib.temp_dir("metered-demo-test-")
    problems = []
    lib.log("running %s --no-build --builddir %s --out %s" % (demo, builddir,
                                                             out))
    r = subprocess.run([demo, "--no-build", "--builddir", builddir, "--out",
                        out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, errors="replace", timeout=150)
    text = r.stdout
    report = text[text.find("gst-metered demo report"):]
    print(report if report else text[-6000:], flush=True)

    def number(label):
        m = re.search(r"^  %s +(\d+)" % label, report, re.M)
        return int(m.group(1)) if m else None

    if r.returncode != 0:
        problems.append("demo.sh exited with %d" % r.returncode)
    if "RESULT: PASS" not in report:
        problems.append("no RESULT: PASS line")
    sent, received = number("frames sent"), number("frames received")
    if not sent or not received or received > sent:
        problems.append("frames sent %s, received %s" % (sent, received))
    if number("lost frames") is None or "longest gap" not in report:
        problems.append("no lost frames / longest gap lines")
    receiver_back = len(re.findall(r"receiver connected as demo-receiver "
                                   r"\(reconnect\)", report))
    sender_back = len(re.findall(r"sender +connected as demo-sender "
                                 r"\(reconnect\)", report))
    if receiver_back < 2 or sender_back < 1:
        problems.append("timeline: receiver reconnected %d times (want 2), "
                        "sender %d (want 1)" % (receiver_back, sender_back))
    for event in (r"admin API: drop the receiver's signalling",
                  r"server +sent SIGTERM", r"server +listening on"):
        if not re.search(event, report):
            problems.append("timeline lacks /%s/" % event)
    m = re.search(r"^  recording +(\S+)", report, re.M)
    if not m or not os.path.isfile(m.group(1)):
        problems.append("the recording's path is missing or not a file")
    else:
        duration, _ = lib.discover(m.group(1))
        if not duration or duration < 5:
            problems.append("the recording plays for %s s" % duration)
    if re.search(r"^    FAIL", report, re.M):
        problems.append("failed checks in the report")
    if not problems:
        shutil.rmtree(out, ignore_errors=True)
    return problems


if __name__ == "__main__":
    lib.main_wrapper(run)
