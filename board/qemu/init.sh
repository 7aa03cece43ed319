#!/bin/busybox sh
# /init of an emulated board's initramfs: mount, load the drivers, run the board's scenario
# (carried in the image), power off (which ends QEMU).
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "camloop-board: init $(cut -d' ' -f1 /proc/uptime)"
while read -r module params; do
    [ -n "$module" ] || continue
    # shellcheck disable=SC2086 # the parameters are words
    insmod "/modules/$module" $params || echo "camloop-board: insmod $module failed"
done < /modules/order
ip link set lo up
# The host answers on the console (panel.rs); its words are not echoed into the markers.
stty -echo 2> /dev/null
sh /scenario.sh
sync
poweroff -f
