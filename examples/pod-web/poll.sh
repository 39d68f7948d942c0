#!/bin/sh
# The sidecar: polls URL (the web server, over the pod's shared localhost) every second and logs
# the outcome to stdout, which is the container's log (`hutch logs POD-poller`).
url=${1:-http://127.0.0.1:80/}
while :; do
    if curl -fsS --max-time 2 -o /dev/null "$url"; then
        echo "poll ok $(date +%H:%M:%S) $url"
    else
        echo "poll failed $(date +%H:%M:%S) $url"
    fi
    sleep 1
done
