#!/bin/busybox sh
# /init of the emulated board's initramfs: mount, load the drivers, run the scenario from the
# host's 9p share, power off (which ends QEMU).
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
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 host /mnt; then
    sh /mnt/scenario.sh
else
    echo "camloop-board: FAIL the host share did not mount"
fi
sync
poweroff -f
