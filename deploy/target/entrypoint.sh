#!/bin/sh
# The bastion's target CA public key comes from the bastion's public volume (public keys only).
set -eu
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
until [ -f /bastion-public/target_ca.pub ]; do echo "waiting for the bastion's target CA"; sleep 2; done
cp /bastion-public/target_ca.pub /etc/ssh/bastion_target_ca.pub
exec /usr/sbin/sshd -D -e
