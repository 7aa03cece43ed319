# The board test's scenario on QEMU's `raspi3b`, run by /init: camloop as installed on a Pi 3,
# board/rpi3/camloop.toml unchanged at /etc/camloop/camloop.toml (pinctrl-bcm2835 lines 17, 27
# and 22; vivid as /dev/video0, snd-aloop as the default sound card). QEMU's BCM2835 GPIO has no
# input events, so the host cannot press the buttons: it asks on the console ("call", "hangup",
# "stop") and the script sends `camloop ctl`, while the host reads the LED from GPLEV0 and dumps
# the screen (QEMU's BCM2835 framebuffer, /dev/fb0 through simple-framebuffer) once connected and
# once ready again. With no virtio there is no share: what else the host reads comes back on the
# console.
. /helpers.sh
mkdir -p /var/lib/camloop

video=$(ls /dev/video* 2>/dev/null | tr '\n' ' ')
gpio=$(ls /dev/gpiochip* 2>/dev/null | tr '\n' ' ')
cards=$(sed -n 's/^ *[0-9]* \[\([A-Za-z]*\) *\].*/\1/p' /proc/asound/cards 2>/dev/null | tr '\n' ' ')
mark "devices camera: ${video}gpio: ${gpio}sound: ${cards}"

camloop probe > /tmp/probe.txt 2>&1 || fail "camloop probe failed: $(tail -n 1 /tmp/probe.txt)"
while IFS= read -r line; do mark "probe $line"; done < /tmp/probe.txt

start_camloop /tmp/camloop.log
wait_state ready 60
mark "screen $(grep -m 1 'screen: ' /tmp/camloop.log)"
gpio_lines GPIO17 GPIO27 GPIO22
mark "gpio-phase two screen"
serve_host gpio-exit
