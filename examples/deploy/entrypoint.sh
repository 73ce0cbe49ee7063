#!/bin/sh
# Starts one process of a Sluice cluster in a StatefulSet pod: writes the host file from the
# StatefulSet's stable pod names and takes this pod's ordinal as its --process.
#
# Environment (set in kubernetes.yaml): REPLICAS (pods in the StatefulSet), SERVICE (the
# headless Service), NAMESPACE, PORT (where every process listens). Arguments: the job
# binary and its own arguments.
set -eu
name=$(hostname)                # e.g. sluice-stats-2
set_name=${name%-*}             # sluice-stats
ordinal=${name##*-}             # 2
hosts=/tmp/sluice.hosts
: > "$hosts"
i=0
while [ "$i" -lt "$REPLICAS" ]; do
    echo "$set_name-$i.$SERVICE.$NAMESPACE.svc.cluster.local:$PORT" >> "$hosts"
    i=$((i + 1))
done
exec "$@" --runner timely --hosts "$hosts" --process "$ordinal"
