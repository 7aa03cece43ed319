SUMMARY = "A minimal image that boots into camloop, with the tools to check its devices"
DESCRIPTION = "camloop as a service, and v4l2-ctl, arecord/aplay and the gpiod tools to \
               look at the camera, the sound card and the GPIO lines by hand."
LICENSE = "MIT"

inherit core-image

IMAGE_FEATURES += "ssh-server-dropbear"
IMAGE_INSTALL:append = " camloop v4l-utils alsa-utils libgpiod-tools"
