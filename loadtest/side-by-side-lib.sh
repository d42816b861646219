# Sourced by side-by-side.sh after bench-lib.sh: the parts of the run that need no Java client.
# Small requests measured with wrk (GET) and hey (HEAD: wrk waits for a body that never comes),
# because the Java client tops out near 30k requests/s and would make every server look equal;
# each figure goes into $work/small-rounds.jsonl as one round in the shape `http --json` writes
# ({round, workload, target, tool, figures}), so `compare --small` reads it like the rest.
# Also: server CPU time from /proc, pushing a tiny image with curl, async-profiler per phase.

clk_tck=$(getconf CLK_TCK)

# CPU ticks (user + system) of a process and its children (nginx: master and workers).
cpu_ticks() { # pid...
  local total=0 p kids t
  for p in "$@"; do
    kids=$(cat /proc/"$p"/task/*/children 2>/dev/null || true)
    for t in $p $kids; do
      # Fields after the command name, which may hold spaces: utime and stime are 14 and 15 of the line.
      total=$(( total + $(sed 's/^.*) //' "/proc/$t/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0) ))
    done
  done
  echo "$total"
}

# Pushes one blob with curl (POST, one PUT) and prints its digest.
push_blob() { # base-url repository file
  local d loc sep
  d="sha256:$(sha256sum "$3" | cut -d' ' -f1)"
  loc=$(curl -sf -X POST -D - -o /dev/null "$1/v2/$2/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
  case "$loc" in http*) ;; *) loc="$1$loc" ;; esac
  sep='?'; [[ "$loc" == *\?* ]] && sep='&'
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$3" "$loc${sep}digest=$d" -o /dev/null
  echo "$d"
}

# An image (a 4 KiB layer, a config, a manifest) tagged t1..tTAGS in a repository; sets small_layer.
push_image() { # base-url repository folder tags
  local dir=$3 cd m t
  mkdir -p "$dir"
  head -c 4096 /dev/urandom > "$dir/layer"
  echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' > "$dir/config"
  small_layer=$(push_blob "$1" "$2" "$dir/layer")
  cd=$(push_blob "$1" "$2" "$dir/config")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":4096}]}' \
    "$cd" "$(stat -c%s "$dir/config")" "$small_layer" > "$dir/manifest"
  for t in $(seq 1 "$4"); do
    curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
      --data-binary @"$dir/manifest" "$1/v2/$2/manifests/t$t" -o /dev/null
  done
  printf 'wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"\n' > "$dir/accept.lua"
}

# wrk's latency ("812.00us", "1.20ms", "2.00s") in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'; }

# One measured round of a small-request workload against one server: rate, p99, non-2xx
# responses and the server's CPU µs per request, appended to $work/small-rounds.jsonl.
# tool is wrk (GET) or hey (HEAD); extra arguments go to the tool before the URL.
small_round() { # round workload target tool url pids(comma-separated) [tool args...]
  local round=$1 workload=$2 target=$3 tool=$4 url=$5 pids_csv=$6 before after out rate p99 bad requests
  shift 6
  local -a pid_list
  IFS=, read -r -a pid_list <<< "$pids_csv"
  before=$(cpu_ticks "${pid_list[@]}")
  if [ "$tool" = wrk ]; then
    out=$(wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url")
    rate=$(awk '/^Requests\/sec:/ {print $2}' <<< "$out")
    requests=$(awk '/requests in/ {print $1}' <<< "$out")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<< "$out")")
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF} /Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<< "$out" \
      | awk '{s += $1} END {print s + 0}')
  else
    out=$(hey -z "${DURATION}s" -c "$WRK_CONNECTIONS" -m HEAD -disable-compression "$@" "$url")
    rate=$(awk '/Requests\/sec:/ {print $2}' <<< "$out")
    p99=$(awk '$1 == "99%" && $2 == "in" {printf "%.3f", $3 * 1000}' <<< "$out")
    read -r requests bad < <(awk '/^Status code distribution/ {sec = "s"; next} /^Error distribution/ {sec = "e"; next}
      sec == "s" && /\[[0-9]+\]/ {c = $1; gsub(/[^0-9]/, "", c); total += $2; if (c !~ /^2/) bad += $2}
      sec == "e" && /\[[0-9]+\]/ {n = $1; gsub(/[^0-9]/, "", n); bad += n}
      END {print total + 0, bad + 0}' <<< "$out")
  fi
  after=$(cpu_ticks "${pid_list[@]}")
  [ -n "$rate" ] || { printf '%s\n' "$out" >&2; die "$tool gave no rate for $workload on $target"; }
  jq -cn --argjson round "$round" --arg workload "$workload" --arg target "$target" --arg tool "$tool" \
    --argjson rate "$rate" --argjson p99 "${p99:-null}" --argjson bad "${bad:-0}" --argjson requests "${requests:-0}" \
    --argjson cpu_us "$(( (after - before) * 1000000 / clk_tck ))" \
    '{round: $round, workload: $workload, target: $target, tool: $tool,
      figures: {requests_per_s: $rate, p99_ms: $p99, non_2xx: $bad, requests: $requests,
                server_cpu_us_per_request: (if $requests > 0 then $cpu_us / $requests else null end)}}' \
    >> "$work/small-rounds.jsonl"
}

# async-profiler attached to the node for one phase (PROFILE=1), its flame graph kept.
prof_start() { # pid
  [ "$PROFILE" = 1 ] || return 0
  jcmd "$1" JVMTI.agent_load "$ASYNC_PROFILER_LIB" '"start,event=cpu,interval=1ms"' > /dev/null \
    || log "async-profiler did not start in $1"
}
prof_stop() { # pid phase
  [ "$PROFILE" = 1 ] || return 0
  local out="$PROFILE_DIR/side-by-side-$2.html"
  jcmd "$1" JVMTI.agent_load "$ASYNC_PROFILER_LIB" "\"stop,file=$out\"" > /dev/null || true
  # jcmd succeeds even when the agent fails: the file is the proof.
  if [ -s "$out" ]; then log "flame graph: $out"; else log "async-profiler wrote no $out"; fi
}

# wrk against a manifest in a loop until $1.stop appears: small requests served while big blobs
# move. Each run's totals go to $1 (requests, seconds, non-2xx), one line per run.
small_requests_loop() { # file url accept.lua
  while [ ! -e "$1.stop" ]; do
    wrk -t1 -c8 -d2s -s "$3" "$2" 2>/dev/null | awk '
      /requests in/ {r = $1; s = $4; sub(/s,?$/, "", s)}
      /Non-2xx or 3xx responses:/ {b = $NF}
      END {printf "%d %s %d\n", r, s, b}' >> "$1" || true
  done
}
