# The board test's scenario, run by the emulated board's /init from the host share (/mnt):
# start `camloop run` with the board's config, then Call, wait for Connected, Hangup and quit
# through `camloop ctl`, as a person on an SSH session would. Lines starting with
# "camloop-board:" are read by the harness (cargo xtask board-test).
SOCKET=/run/camloop/control.sock
MEDIA_S=5

now() { cut -d' ' -f1 /proc/uptime; }
since() { awk "BEGIN { printf \"%.2f\", $(now) - $1 }"; }
mark() { echo "camloop-board: $*"; }
fail() { mark "FAIL $*"; exit 1; }
ctl() { camloop ctl --socket "$SOCKET" "$1"; }
state() { ctl status 2>/dev/null | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'; }

# Waits up to $2 seconds for state $1.
wait_state() {
    start=$(now)
    until [ "$(state)" = "$1" ]; do
        if awk "BEGIN { exit !($(now) - $start > $2) }"; then
            fail "no $1 state within $2 s (state: $(state))"
        fi
        usleep 100000
    done
}

video=$(ls /dev/video* 2>/dev/null | tr '\n' ' ')
dri=$(ls /dev/dri/card* 2>/dev/null | tr '\n' ' ')
gpio=$(ls /dev/gpiochip* 2>/dev/null | tr '\n' ' ')
cards=$(sed -n 's/^ *[0-9]* \[\([A-Za-z]*\) *\].*/\1/p' /proc/asound/cards 2>/dev/null | tr '\n' ' ')
lines=$(tr '\0' ' ' < /proc/device-tree/pl061@9030000/gpio-line-names 2>/dev/null)
mark "devices camera: ${video}display: ${dri}gpio: ${gpio}(lines ${lines}) sound: ${cards}"

camloop run --config /mnt/camloop.toml > /mnt/camloop.log 2>&1 &
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
mark "control-socket-after $(since "$started")"
wait_state ready 20

call=$(now)
ctl call > /dev/null
wait_state connected 30
mark "connected-after $(since "$call")"
sleep "$MEDIA_S"
ctl hangup > /dev/null
wait_state ready 20
ctl status > /mnt/status.json
ctl quit > /dev/null
wait "$pid"
mark "exit $?"
