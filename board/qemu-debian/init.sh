#!/bin/busybox sh
# /init of the Debian board's initramfs, made on the host (xtask/src/board/debian.rs) rather than
# by mkinitramfs under emulation: the root disk's drivers, then the root file system's own init.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r module params; do
    [ -n "$module" ] || continue
    # shellcheck disable=SC2086 # the parameters are words
    insmod "/modules/$module" $params || echo "camloop-board: insmod $module failed"
done < /modules/order
# virtio devices are probed after their driver loads; a missing disk is a failed boot.
tries=0
until [ -b /dev/vda ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 300 ]; then
        echo "camloop-board: no root disk /dev/vda after 30 s"
        poweroff -f
    fi
    sleep 0.1
done
mkdir -p /root
if ! mount -t ext4 -o rw /dev/vda /root; then
    echo "camloop-board: cannot mount the root file system on /dev/vda"
    poweroff -f
fi
for fs in dev proc sys; do
    mount --move "/$fs" "/root/$fs"
done
exec switch_root /root /sbin/init
