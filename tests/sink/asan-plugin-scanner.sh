#!/bin/sh
# gst-metered — LGPL-2.1-or-later
#
# GST_PLUGIN_SCANNER for the AddressSanitizer build: GStreamer's
# gst-plugin-scanner is not instrumented, so it can only load our
# (instrumented) plugin with the ASan runtime preloaded (and libstdc++, for
# the C++ plugins it also loads). What the system's plugins leak while
# being scanned is theirs: leak detection is off in the scanner only.
# Env: SINK_ASAN_PRELOAD (set by tests/sink/meson.build), SINK_REAL_SCANNER.
LD_PRELOAD="$SINK_ASAN_PRELOAD${LD_PRELOAD:+:$LD_PRELOAD}" \
ASAN_OPTIONS=detect_leaks=0 \
exec "$SINK_REAL_SCANNER" "$@"
