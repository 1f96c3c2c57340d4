#!/bin/sh
# Installs the original Perl Message::Passing (Debian packages), the peer of the interop tests and
# benchmarks. Its command is /usr/bin/message-pass. Needs root (or sudo). Idempotent.
set -e
[ -x /usr/bin/message-pass ] && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
  libmessage-passing-perl libmessage-passing-zeromq-perl liblog-dispatch-message-passing-perl >/dev/null
/usr/bin/message-pass --help >/dev/null
