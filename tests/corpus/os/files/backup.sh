#!/bin/sh
# Nightly copy of /srv to the backup volume (corpus fixture).
set -eu
rsync -a --delete /srv/ /mnt/backup/srv/
