#!/bin/bash
# Installs the Debian packages slimnn needs when run as root; otherwise prints the command.
missing=()
for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
	echo "installing: ${missing[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || exit 1
else
	echo "missing Debian packages; run as root:"
	echo "  apt-get install -y ${missing[*]}"
	exit 1
fi
