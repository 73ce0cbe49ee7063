#!/bin/sh
# Starts one process of a Sluice cluster in a Kubernetes pod: writes the host file from the
# pods' stable names and takes this pod's index as its --process. It serves both forms of
# kubernetes/: a StatefulSet's pods are named SET-0, SET-1, ...; an Indexed Job's pods have
# the host names JOB-0, JOB-1, ... (and JOB_COMPLETION_INDEX). Either way each pod's DNS name
# is NAME.SERVICE.NAMESPACE.svc.cluster.local, through the headless Service.
#
# Environment (set in the manifests): REPLICAS (pods), SERVICE (the headless Service),
# NAMESPACE, PORT (where every process listens). Arguments: the job binary and its own
# arguments. The job waits (bounded) for its own DNS name to resolve before it listens.
set -eu
name=$(hostname)                        # e.g. sluice-stats-2
set_name=${name%-*}                     # sluice-stats
index=${JOB_COMPLETION_INDEX:-${name##*-}}   # 2
hosts=/tmp/sluice.hosts
: > "$hosts"
i=0
while [ "$i" -lt "$REPLICAS" ]; do
    echo "$set_name-$i.$SERVICE.$NAMESPACE.svc.cluster.local:$PORT" >> "$hosts"
    i=$((i + 1))
done
exec "$@" --runner timely --hosts "$hosts" --process "$index"
