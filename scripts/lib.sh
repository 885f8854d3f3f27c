# Shared set-up for scripts/*.sh: make sure Redis and a MySQL-compatible
# server are installed, running and reachable, without disturbing ones that
# already run. Sourced, not executed.

REDIS_PORT=${REDIS_PORT:-6379}
MYSQL_PORT=${MYSQL_PORT:-3306}

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

# apt-get install the given packages when root; otherwise say what to install.
install_packages() {
  if is_root && command -v apt-get >/dev/null; then
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    die "please install: $* (e.g. sudo apt-get install $*)"
  fi
}

wait_for() { # description, attempts (x0.25s), command...
  local what=$1 attempts=$2; shift 2
  for ((i = 0; i < attempts; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  die "$what did not come up"
}

ensure_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || install_packages redis-server
  if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "starting redis on 127.0.0.1:$REDIS_PORT"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
      --logfile "${TMPDIR:-/tmp}/concert-redis-$REDIS_PORT.log" >/dev/null
    wait_for "redis" 40 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
  fi
}

mysql_client() {
  if command -v mariadb >/dev/null; then mariadb "$@"; else mysql "$@"; fi
}

# Leaves MYSQL_ADMIN_URL set to a URL that may create and drop databases.
ensure_mysql() {
  command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]] || command -v mysqld >/dev/null \
    || install_packages mariadb-server
  if ! mysql_client -h 127.0.0.1 -P "$MYSQL_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1 \
    && ! mysql_client -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    log "starting mariadb"
    if [[ -x /usr/sbin/mariadbd ]]; then
      start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    else
      service mariadb start || service mysql start
    fi
    wait_for "mariadb" 120 mysql_client -uroot -e 'SELECT 1'
  fi
  if mysql_client -h 127.0.0.1 -P "$MYSQL_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    MYSQL_ADMIN_USER=root MYSQL_ADMIN_PASSWORD=
  else
    # Debian's root logs in by socket only: make a TCP user for the tests.
    log "creating database user concert_admin for TCP access"
    mysql_client -uroot -e "CREATE USER IF NOT EXISTS 'concert_admin'@'127.0.0.1' IDENTIFIED BY 'concert_admin';
      GRANT ALL PRIVILEGES ON *.* TO 'concert_admin'@'127.0.0.1'; FLUSH PRIVILEGES;" \
      || die "cannot reach MariaDB as root over TCP or socket"
    MYSQL_ADMIN_USER=concert_admin MYSQL_ADMIN_PASSWORD=concert_admin
  fi
  MYSQL_ADMIN_URL="mysql://$MYSQL_ADMIN_USER${MYSQL_ADMIN_PASSWORD:+:$MYSQL_ADMIN_PASSWORD}@127.0.0.1:$MYSQL_PORT"
  export MYSQL_ADMIN_URL MYSQL_ADMIN_USER MYSQL_ADMIN_PASSWORD
}

# The mysql client logged in as the account ensure_mysql settled on.
mysql_admin() {
  mysql_client -h 127.0.0.1 -P "$MYSQL_PORT" -u"$MYSQL_ADMIN_USER" \
    ${MYSQL_ADMIN_PASSWORD:+-p"$MYSQL_ADMIN_PASSWORD"} "$@"
}

# Prints the path of nginx, installing Debian's package when missing
# without letting its postinst start the packaged service (policy-rc.d says
# no for the install when nothing else does).
nginx_path() {
  local nginx_bin policy=/usr/sbin/policy-rc.d
  nginx_bin=$(command -v nginx || true)
  [[ -z $nginx_bin && -x /usr/sbin/nginx ]] && nginx_bin=/usr/sbin/nginx
  if [[ -z $nginx_bin ]]; then
    if is_root && [[ ! -e $policy ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
      install_packages nginx >&2 || { rm -f "$policy"; die "could not install nginx"; }
      rm -f "$policy"
    else
      install_packages nginx >&2
    fi
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  fi
  [[ -x $nginx_bin ]] || die "nginx is not installed"
  printf '%s\n' "$nginx_bin"
}
