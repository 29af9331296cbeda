#!/bin/sh
# fresh-db.sh ADMIN_URL NAME: database NAME created anew, without deleting a
# file: the last NAME is renamed to NAME_old_<time>, and the script that
# prepares its runs with this drops them all when it is done (drop_fresh).
#
# Why not drop it here: on this machine's file system (ext4 without a
# journal) a new file's inode skips, one check each, every inode of its
# group freed in the last 5 s (300 s while the freed inode's table block is
# not yet written back: ext4's recently_deleted). A database dropped just
# before a timed run frees ~1,000 inodes, and the run's ~1,000 new files
# then cost it up to ~0.4 s of kernel time in open() — perf, 150 goose
# files: 325 ms of one ledger run's backend in recently_deleted, 37 ms of
# goose's run beside it — falling on either tool at random. No deploy
# follows a drop of a thousand files.
set -eu
psql "$1" -XqAt -v ON_ERROR_STOP=1 \
  -c "DO \$\$BEGIN IF EXISTS (SELECT FROM pg_database WHERE datname = '$2') THEN
        EXECUTE format('ALTER DATABASE %I RENAME TO %I', '$2', '$2_old_' || to_char(clock_timestamp(), 'HH24MISSUS'));
      END IF; END\$\$" \
  -c "CREATE DATABASE \"$2\""
