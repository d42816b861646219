# Sourced by the benchmark scripts (side-by-side.sh, mirror-bench.sh, cluster-bench.sh,
# event-loops.sh, head-under-load.sh; soak.sh for its messages and ports): their messages, a work
# folder that goes away with every process started in it, free ports on 127.0.0.1 (below the kernel's
# ephemeral range), waiting for a server to answer, and nginx as the benchmarks run it. Set before
# sourcing: BENCH (the script's name in its messages); before calling wait_for: START_TIMEOUT
# (seconds).

log() { printf '[%s %s] %s\n' "$BENCH" "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# make_work PARENT PREFIX: a new folder $work; on exit (also after an error or Ctrl-C) every
# process whose pid is in $pids is stopped (TERM, then KILL after 5 s) and $work removed.
make_work() {
  work=$(mktemp -d "$1/$2.XXXXXX")
  pids=()
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}
cleanup() {
  local status=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
  exit "$status"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Below the kernel's range of ephemeral ports: a port no server listens on may still be the local
# end of a client's connection (curl's, a node's), and a server then fails to bind it.
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
if [ "$ephemeral_low" -gt 14000 ]; then
  next_port=$(( 10000 + RANDOM % (ephemeral_low - 12000) ))
else
  next_port=$(( 20000 + RANDOM % 20000 ))
fi
free_port() { # variable name (not $(free_port): the counter must move in this shell)
  while port_in_use "$next_port"; do next_port=$((next_port + 1)); done
  printf -v "$1" '%s' "$next_port"; next_port=$((next_port + 1))
}

# wait_for URL PID NAME LOG: until URL answers 2xx, failing early if PID exits (LOG's tail shown).
wait_for() {
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    curl -sf -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || { tail -20 "$4" >&2; die "$3 exited while starting"; }
    sleep 0.2
  done
  tail -20 "$4" >&2
  die "$3 did not answer $1 within ${START_TIMEOUT}s"
}

# start_nginx: nginx serving $work/www on a free port of 127.0.0.1, as the benchmarks compare with
# it (worker_processes auto, sendfile on, tcp_nopush on, no access log, keep-alive without limit),
# its own files in $work/nginx; waits until $work/www/small answers. Sets nginx_port and nginx_pid.
start_nginx() {
  free_port nginx_port
  mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
  cat > "$work/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  default_type application/octet-stream;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
  }
}
EOF
  nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/logs/error.log" > "$work/nginx.log" 2>&1 &
  nginx_pid=$!; pids+=("$nginx_pid")
  wait_for "http://127.0.0.1:$nginx_port/small" "$nginx_pid" "nginx" "$work/nginx/logs/error.log"
}
