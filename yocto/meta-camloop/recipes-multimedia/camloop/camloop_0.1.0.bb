SUMMARY = "WebRTC loopback appliance: camera and microphone to screen and speaker"
DESCRIPTION = "Press Call and camloop captures the camera (V4L2) and microphone (ALSA), \
               encodes them with OpenH264 and Opus, sends both through a WebRTC peer connection \
               to a second one in the same daemon, and shows and plays what arrives. Hangup ends \
               the call; an LED shows the state."
SECTION = "multimedia"
CVE_PRODUCT = "camloop"
LICENSE = "MIT | Apache-2.0"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302 \
                    file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

# The checkout this layer is part of (yocto/meta-camloop/recipes-multimedia/camloop/ in it), with
# the crates of its Cargo.lock (camloop-crates.inc, written by `cargo xtask yocto`).
inherit externalsrc
EXTERNALSRC := "${@os.path.normpath(d.getVar('THISDIR') + '/../../../..')}"
EXTERNALSRC_BUILD = "${WORKDIR}/build"

inherit cargo cargo-update-recipe-crates pkgconfig systemd useradd

require ${BPN}-crates.inc

# The shipped binary's profile, Cargo.toml's [profile.dist] (fat LTO, one codegen unit), in
# place of the cargo class's --release; a DEBUG_BUILD stays a debug build.
BUILD_MODE = "${@['--profile dist', ''][d.getVar('DEBUG_BUILD') == '1']}"
BUILD_DIR = "${@['dist', 'debug'][d.getVar('DEBUG_BUILD') == '1']}"

# alsa-lib and libopus through pkg-config; clang-native for the V4L2 bindings' bindgen.
DEPENDS += "alsa-lib clang-native libopus"
export LIBCLANG_PATH = "${STAGING_LIBDIR_NATIVE}"
export BINDGEN_EXTRA_CLANG_ARGS = "--sysroot=${STAGING_DIR_TARGET}"

# The config installed as /etc/camloop/camloop.toml: one of the checkout's board/ folders (rpi3,
# rpi4, rpi5, qemu-virt); the kas files set it for their machine.
CAMLOOP_BOARD ??= "rpi4"

do_install:append() {
    install -d ${D}${systemd_system_unitdir} ${D}${sysconfdir}/camloop
    install -m 0644 ${S}/board/camloop.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${S}/board/${CAMLOOP_BOARD}/camloop.toml ${D}${sysconfdir}/camloop/
    install -d ${D}${nonarch_base_libdir}/udev/rules.d
    install -m 0644 ${S}/board/99-camloop-gpio.rules ${D}${nonarch_base_libdir}/udev/rules.d/
}

SYSTEMD_SERVICE:${PN} = "camloop.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"
CONFFILES:${PN} = "${sysconfdir}/camloop/camloop.toml"
FILES:${PN} += "${nonarch_base_libdir}/udev/rules.d/99-camloop-gpio.rules"

# The service's user, in the groups of the camera, the sound, the GPIO lines and the screen.
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system -f gpio; --system -f render"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/camloop --no-create-home \
                       --shell ${base_sbindir}/nologin --user-group --groups video,audio,gpio,render camloop"
