#!/bin/sh
# seen.sh URL PREFIX: one request (one connection) at a time, at most 60, until three different
# endpoints PREFIX-1..3 have answered; prints how many different ones did.
url=$1 prefix=$2 seen=""
for i in $(seq 60); do
  who=$(curl -s --max-time 2 "$url")
  case "$who" in "$prefix"-[123]) case " $seen " in *" $who "*) ;; *) seen="$seen $who" ;; esac ;; esac
  [ "$(echo $seen | wc -w)" -ge 3 ] && break
done
echo $seen | wc -w
