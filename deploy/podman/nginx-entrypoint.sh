#!/bin/sh
# deploy/nginx/default.conf names Docker's embedded DNS server, 127.0.0.11,
# as its resolver. Podman's (aardvark-dns) answers on the network's gateway
# address instead, which is the nameserver in this container's
# /etc/resolv.conf. nginx reads /etc/nginx/conf.d.run/*.conf: a copy of the
# mounted (read-only) conf.d with that one address swapped; everything else,
# including files it includes from /etc/nginx/conf.d/, is used as mounted.
set -eu
ns=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)
rm -rf /etc/nginx/conf.d.run && mkdir -p /etc/nginx/conf.d.run
for f in /etc/nginx/conf.d/*.conf; do
  [ -e "$f" ] || continue
  if [ -n "$ns" ]; then
    sed "s/resolver 127\.0\.0\.11\b/resolver $ns/" "$f" >"/etc/nginx/conf.d.run/${f##*/}"
  else
    cp "$f" /etc/nginx/conf.d.run/
  fi
done
exec "$@"
