# Helpers for the emulated boards' scenarios (sourced). Lines starting with "camloop-board:" are
# read by the harness (cargo xtask board-test); the host's answers arrive on the console (stdin).
SOCKET=/run/camloop/control.sock

now() { cut -d' ' -f1 /proc/uptime; }
since() { awk "BEGIN { printf \"%.2f\", $(now) - $1 }"; }
mark() { echo "camloop-board: $*"; }
# The last lines of the running camloop's log, then the reason.
fail() {
    [ -n "$log" ] && tail -n 5 "$log" | while read -r said; do mark "said $said"; done
    mark "FAIL $*"
    exit 1
}
ctl() { camloop ctl --socket "$SOCKET" "$1"; }
state() { ctl status 2>/dev/null | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'; }
last_error() { ctl status 2>/dev/null | sed -n 's/.*"last_error":"\([^"]*\)".*/\1/p'; }

# Waits up to $2 seconds for state $1.
wait_state() {
    start=$(now)
    until [ "$(state)" = "$1" ]; do
        if awk "BEGIN { exit !($(now) - $start > $2) }"; then
            fail "no $1 state within $2 s (state: $(state); last error: $(last_error))"
        fi
        usleep 100000
    done
}

# Waits up to $1 seconds for the host's next word on the console; it is in $word.
host_says() {
    read -r -t "$1" word || fail "the host said nothing within $1 s"
}

# Starts `camloop run` with the options after $1, logging to $1, and waits for its control socket.
start_camloop() {
    log=$1
    shift
    camloop run "$@" > "$log" 2>&1 &
    pid=$!
    started=$(now)
    until ctl status > /dev/null 2>&1; do
        if ! kill -0 "$pid" 2> /dev/null; then
            wait "$pid"
            fail "camloop run exited with $? before its control socket came up"
        fi
        if awk "BEGIN { exit !($(now) - $started > 60) }"; then
            fail "camloop run did not open $SOCKET within 60 s"
        fi
        usleep 100000
    done
}

# Does what the host asks on the console until it says "stop" ("call" and "hangup" through
# `camloop ctl`, on boards whose buttons it cannot press), then stops camloop with SIGTERM; the
# exit code goes in marker $1. The host's own waits pace it (a button phase is up to three of
# them, 60 s each); this one only notices a host that went away.
serve_host() {
    while host_says 300 && [ "$word" != stop ]; do
        case $word in
        call) ctl call > /dev/null && wait_state connected 60 ;;
        hangup) ctl hangup > /dev/null && wait_state ready 60 ;;
        *) fail "the host said \"$word\"" ;;
        esac
    done
    kill -TERM "$pid"
    wait "$pid"
    mark "$1 $?"
}

# What the kernel says of the GPIO lines named $@ (debugfs: direction, consumer, IRQ = edges).
gpio_lines() {
    [ -e /sys/kernel/debug/gpio ] || mount -t debugfs debugfs /sys/kernel/debug
    for name in "$@"; do
        mark "gpio-line $name $(grep "($name " /sys/kernel/debug/gpio | tr -s ' ')"
    done
}
