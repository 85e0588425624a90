#!/bin/sh
# Run once by the postgres:18 image when it creates the cluster (docker-entrypoint-initdb.d): admit replication
# connections (pg_basebackup, pg_receivewal) from the backup job's container with a password. The image's own
# pg_hba.conf admits them from the container's loopback only.
set -eu
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
