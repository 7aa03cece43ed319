# The board test's scenario on the `virt` board, run by /init; its files are on the host share (/mnt):
# `camloop run` with the board's config. Its buttons are pressed from the host, through the
# PL061's lines, with contact bounce: the script asks for a press with "press CALL" and watches
# with `camloop ctl status` only. The host also reads the LED:
#   0. two buttons, then toggle mode: the host presses while watching the LED's patterns, the
#      script checks the states go ready → connected → ready → connected and sends SIGTERM;
# then the camera and sound card are taken away and given back:
#   1. vivid not loaded at start: Error naming the camera; loaded: Ready within retry_s + 1 s;
#   2. a call on vivid + snd-aloop with a 1 kHz tone played in and recorded at the far end, the
#      screen (virtio-gpu through DRM) dumped by the host during the call and after Hangup;
#   3. vivid unbound mid-call: Error naming the camera; rebound: Ready; Call connects again;
#   4. a sound card that is not there: a clear error; 4b. the speaker held by another
#      program: an error at once, a call once it is free; 5. audio disabled: a video-only call;
#   6. camloop killed mid-call, the LED lit: `camloop led-off` turns it off.
. /helpers.sh
RETRY_S=2
VIVID_PARAMS=$(sed -n 's/^vivid\.ko //p' /modules/order)
VIVID_DRIVER=/sys/bus/platform/drivers/vivid

# Fails unless the last error mentions $1.
error_names() {
    case "$(last_error)" in
    *"$1"*) ;;
    *) fail "the error does not name $1: $(last_error)" ;;
    esac
}

# Asks the host to take a picture of the screen, named $1, and waits until it has.
screendump() {
    mark "screendump $1"
    host_says 60
    [ "$word" = shot ] || fail "the host said \"$word\" to a screendump"
}

# Asks the host to press button $1 (CALL or HANGUP).
press() { mark "press $1"; }

quit_camloop() {
    ctl quit > /dev/null
    wait "$pid"
    mark "$1 $?"
}

# Call, Connected within 30 s; $took is how long it took.
call_connects() {
    call=$(now)
    press CALL
    wait_state connected 30
    took=$(since "$call")
}

mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 host /mnt \
    || fail "the host share did not mount"
video=$(ls /dev/video* 2>/dev/null | tr '\n' ' ')
dri=$(ls /dev/dri/card* 2>/dev/null | tr '\n' ' ')
gpio=$(ls /dev/gpiochip* 2>/dev/null | tr '\n' ' ')
cards=$(sed -n 's/^ *[0-9]* \[\([A-Za-z]*\) *\].*/\1/p' /proc/asound/cards 2>/dev/null | tr '\n' ' ')
lines=$(tr '\0' ' ' < /proc/device-tree/pl061@9030000/gpio-line-names 2>/dev/null)
mark "devices camera: ${video}display: ${dri}gpio: ${gpio}(lines ${lines}) sound: ${cards}"

camloop probe --config /mnt/camloop.toml > /mnt/probe.txt 2>&1 \
    || fail "camloop probe failed: $(tail -n 1 /mnt/probe.txt)"

# The tone for the microphone, playing for the whole scenario.
aplay -q -D hw:Loopback,0,0 /mnt/tone.wav &

# 0. The buttons and the LED, worked from the host. The host presses Call, Hangup (in toggle
# mode: Call again) and Call, each once it has seen the LED show the state before; when it has
# seen the last one it says "stop", and camloop gets SIGTERM. The script does not poll the
# states itself: a Ready between Hangup and the next Call can be shorter than a poll on a slow
# board, and the LED the host watches is camloop's own account of them, in order.
button_phase() {
    mark "gpio-phase $1"
    wait_state ready 30
    gpio_lines CALL HANGUP LED
    serve_host gpio-exit
}
start_camloop /mnt/gpio-two.log --config /mnt/camloop.toml
button_phase two
awk '/^hangup = / { next } { print } /^source = "gpio"/ { print "mode = \"toggle\"" }' \
    /mnt/camloop.toml > /tmp/toggle.toml
start_camloop /mnt/gpio-toggle.log --config /tmp/toggle.toml
button_phase toggle

# 1. The camera is missing at start.
rmmod vivid || fail "cannot unload vivid"
sed 's/^video = .*/video = "drm"/' /mnt/camloop.toml > /tmp/screen.toml
start_camloop /mnt/camloop.log --config /tmp/screen.toml
mark "control-socket-after $(since "$started")"
wait_state error 20
error_names vivid
mark "camera-missing $(last_error)"
# shellcheck disable=SC2086 # the parameters are words
insmod /modules/vivid.ko $VIVID_PARAMS || fail "cannot load vivid"
loaded=$(now)
wait_state ready $((RETRY_S + 1))
mark "camera-back-after $(since "$loaded")"

# 2. The call, with the tone recorded where camloop plays pc2's audio.
call_connects
mark "connected-after $took"
arecord -q -D hw:Loopback,1,1 -f S16_LE -r 48000 -c 1 -d 3 /mnt/far.wav \
    || fail "arecord on hw:Loopback,1,1 failed"
screendump connected
sleep 2
press HANGUP
wait_state ready 20
sleep 2
screendump ready
cp /mnt/stats.json /mnt/call.json
ctl status > /mnt/status.json

# 3. The camera is unbound mid-call, then bound again.
call_connects
mark "before-unbind-connected-after $took"
sleep 1
device=$(basename "$(ls -d "$VIVID_DRIVER"/vivid* | head -n 1)")
echo "$device" > "$VIVID_DRIVER/unbind" || fail "cannot unbind $device"
unbound=$(now)
wait_state error 5
error_names camera
mark "camera-unbound-error-after $(since "$unbound") $(last_error)"
echo "$device" > "$VIVID_DRIVER/bind" || fail "cannot bind $device"
bound=$(now)
wait_state ready $((RETRY_S + 1))
mark "camera-rebound-ready-after $(since "$bound")"
call_connects
mark "reconnected-after $took"
press HANGUP
wait_state ready 20
quit_camloop exit

# 4. A sound card that is not there.
sed 's/^capture = .*/capture = "hw:CARD=Missing"/' /mnt/camloop.toml > /tmp/no-card.toml
start_camloop /mnt/no-card.log --config /tmp/no-card.toml
wait_state error 20
error_names "hw:CARD=Missing"
mark "sound-missing $(last_error)"
quit_camloop no-card-exit

# 4b. The speaker held by another program: Call ends in Error naming it at once (the kernel's
# blocking open would wait for the holder to let go, and camloop with it); let go, Call connects.
aplay -q -D hw:Loopback,0,1 -f S16_LE -r 48000 -c 1 /dev/zero &
holder=$!
start_camloop /mnt/speaker-busy.log --config /mnt/camloop.toml
wait_state ready 20
busy=$(now)
ctl call > /dev/null
wait_state error 10
error_names "hw:Loopback,0,1"
mark "speaker-busy-error-after $(since "$busy") $(last_error)"
kill "$holder"
wait "$holder"
ctl call > /dev/null
wait_state connected 30
ctl hangup > /dev/null
wait_state ready 20
quit_camloop speaker-busy-exit

# 5. Audio disabled: the call is video only.
awk '{ print } /^\[audio\]/ { print "enabled = false" }' /mnt/camloop.toml > /tmp/video-only.toml
start_camloop /mnt/video-only.log --config /tmp/video-only.toml
wait_state ready 20
call_connects
mark "video-only-connected-after $took"
sleep 2
press HANGUP
wait_state ready 20
cp /mnt/stats.json /mnt/video-only.json
quit_camloop video-only-exit

# 6. camloop killed mid-call leaves the LED lit; `camloop led-off` (the service's ExecStopPost)
# puts it out.
start_camloop /mnt/killed.log --config /tmp/video-only.toml
wait_state ready 20
call_connects
kill -KILL "$pid"
wait "$pid"
mark "led-query"
host_says 10
killed=$word
camloop led-off --config /tmp/video-only.toml > /mnt/led-off.txt 2>&1 \
    || fail "camloop led-off failed: $(cat /mnt/led-off.txt)"
mark "led-query"
host_says 10
[ "$word" = off ] || fail "camloop led-off left the LED $word"
mark "led-off killed mid-call: LED $killed; after camloop led-off: $word ($(cat /mnt/led-off.txt))"
