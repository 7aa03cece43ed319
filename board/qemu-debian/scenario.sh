# The board test's scenario on Debian (`cargo xtask board-test --os debian`): camloop installed
# from its .deb with dpkg and started by systemd at boot, the virt board's config put in
# /etc/camloop/camloop.toml as an owner edits it. Run by camloop-board-test.service once the
# system is up; its lines reach the host on the console. Checks, in order:
#   camloop.service active (systemd heard READY=1), the STATUS line systemctl shows, the unit's
#   `systemd-analyze security` exposure, Call pressed from the host through the PL061's lines
#   connects, Hangup; `camloop ctl debug-stall` hangs the owner task and systemd's watchdog
#   restarts camloop; then `apt-get purge camloop` and what is left of it.
. /usr/local/lib/camloop-board/helpers.sh
# Debian has no busybox usleep.
usleep() { sleep "$(awk "BEGIN { print $1 / 1000000 }")"; }
# Asks the host to press button $1 (CALL or HANGUP) on the PL061's lines.
press() { mark "press $1"; }

mark "init $(now)"
start=$(now)
until [ "$(systemctl is-active camloop)" = active ]; do
    if awk "BEGIN { exit !($(now) - $start > 120) }"; then
        fail "camloop.service is $(systemctl is-active camloop) after 120 s: $(systemctl status camloop --no-pager 2>&1 | tr '\n' '|')"
    fi
    sleep 0.2
done
mark "active $(systemctl show -p ActiveEnterTimestampMonotonic --value camloop) $(systemctl show -p Type --value camloop)"
wait_state ready 60
mark "status $(systemctl status camloop --no-pager 2>&1 | sed -n 's/^ *Status: "\(.*\)"$/\1/p')"
mark "main-pid-user $(ps -o user= -p "$(systemctl show -p MainPID --value camloop)")"
mark "exposure $(systemd-analyze security camloop 2>&1 | sed -n 's/.*Overall exposure level for camloop.service: //p')"

call=$(now)
press CALL
wait_state connected 60
mark "connected $(since "$call")"
press HANGUP
wait_state ready 30
mark "hung-up ready"

pid=$(systemctl show -p MainPID --value camloop)
restarts=$(systemctl show -p NRestarts --value camloop)
stalled=$(now)
ctl debug-stall > /dev/null
until [ "$(systemctl show -p NRestarts --value camloop)" -gt "$restarts" ] \
    && [ "$(systemctl is-active camloop)" = active ]; do
    if awk "BEGIN { exit !($(now) - $stalled > 90) }"; then
        fail "no restart within 90 s of debug-stall: $(systemctl status camloop --no-pager 2>&1 | tr '\n' '|')"
    fi
    sleep 0.2
done
[ "$(systemctl show -p MainPID --value camloop)" != "$pid" ] || fail "camloop still runs as $pid"
mark "watchdog $(since "$stalled") $(journalctl -u camloop -o cat --no-pager | grep -m1 -i 'watchdog timeout')"
wait_state ready 60

apt-get purge -y camloop > /tmp/purge.log 2>&1
mark "purge $?"
left=""
for path in /usr/bin/camloop /etc/camloop /var/lib/camloop /run/camloop \
    /usr/lib/systemd/system/camloop.service /etc/systemd/system/multi-user.target.wants/camloop.service \
    /usr/lib/sysusers.d/camloop.conf /usr/lib/udev/rules.d/99-camloop-gpio.rules \
    /usr/share/doc/camloop; do
    [ -e "$path" ] && left="$left $path"
done
getent passwd camloop > /dev/null && left="$left user:camloop"
getent group camloop > /dev/null && left="$left group:camloop"
dpkg-query -W -f='${Status}' camloop 2> /dev/null | grep -q . && left="$left dpkg:$(dpkg-query -W -f='${Status}' camloop)"
mark "left ${left:-nothing}"
# The gpio group is the GPIO chips' on any system, shared with whoever else uses them.
getent group gpio > /dev/null && mark "kept group gpio"
mark "done $(now)"
systemctl poweroff
