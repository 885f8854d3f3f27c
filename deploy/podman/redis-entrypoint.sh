#!/bin/sh
# The official image builds Redis with protected mode off by default (its
# clients come from other containers, with no password); Debian's default is
# on, which refuses every client that is not on loopback. Turn it off the
# same way: as a default that an explicit option later on the line overrides.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  case ${1:-} in
    ''|-*) set -- redis-server --protected-mode no "$@" ;;
    *) conf=$1; shift; set -- redis-server "$conf" --protected-mode no "$@" ;;
  esac
fi
exec "$@"
