#!/bin/bash
# First start on an empty data directory: initialise it the way the official
# mysql image does from MYSQL_* variables, with the server listening on a
# private socket only, so the compose healthcheck (over TCP) passes only
# once the real server is up. Later starts go straight to the server.
set -euo pipefail
[[ ${1:-} == -* ]] && set -- mariadbd "$@"

sql_string() { # a value quoted as an SQL string literal
  local v=${1//\\/\\\\}
  printf "'%s'" "${v//\'/\\\'}"
}

if [[ ${1:-} == mariadbd && ! -d /var/lib/mysql/mysql ]]; then
  : "${MYSQL_ROOT_PASSWORD:?set MYSQL_ROOT_PASSWORD}"
  echo "mysql-entrypoint: initialising /var/lib/mysql" >&2
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db \
    --auth-root-authentication-method=normal >/dev/null
  socket=/run/mysqld/init.sock
  mariadbd --skip-networking --socket="$socket" &
  pid=$!
  for _ in $(seq 120); do
    mariadb-admin --socket="$socket" -uroot ping >/dev/null 2>&1 && break
    sleep 0.5
  done
  root_pw=$(sql_string "$MYSQL_ROOT_PASSWORD")
  {
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $root_pw;"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $root_pw;"
    echo "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [[ -n ${MYSQL_DATABASE:-} ]]; then
      echo "CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"
    fi
    if [[ -n ${MYSQL_USER:-} && -n ${MYSQL_PASSWORD:-} ]]; then
      echo "CREATE USER '$MYSQL_USER'@'%' IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
      [[ -n ${MYSQL_DATABASE:-} ]] && echo "GRANT ALL PRIVILEGES ON \`$MYSQL_DATABASE\`.* TO '$MYSQL_USER'@'%';"
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket="$socket" -uroot
  mariadb-admin --socket="$socket" -uroot -p"$MYSQL_ROOT_PASSWORD" shutdown
  wait "$pid"
  echo "mysql-entrypoint: initialised" >&2
fi
exec "$@"
