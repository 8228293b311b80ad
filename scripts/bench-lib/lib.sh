# Shared by the benchmark scripts: build, start `iolog serve --dev` on a fresh data folder, run wrk.
# Source it after `cd` to the repository root; it sets $data, $port, $server, $gateway_token, $admin_token.
# Figures are kept in $results for the whole run; everything started is stopped on exit.

results=$(mktemp -d)
bench_cleanup() {
    kill ${server:-} ${replicas:-} 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${data:-}" ] && rm -rf "$data"
    if [ -n "${pg_dir:-}" ]; then
        scripts/postgres stop "$pg_dir/cluster" >/dev/null 2>&1 || true
        rm -rf "$pg_dir"
    fi
    rm -rf "$results"
}
trap bench_cleanup EXIT

bench_start() { # extra serve arguments...
    if ! command -v wrk >/dev/null; then
        echo "installing wrk"
        apt-get update -qq && apt-get install -y -qq wrk >/dev/null
    fi
    scripts/setup >/dev/null
    swift build -c release --product iolog 2>&1 | tail -1
    swift build -c release --product iolog-bench 2>&1 | tail -1
    port=${IOLOG_BENCH_PORT:-18765}
    data=$(mktemp -d)
    .build/release/iolog serve --dev --data-dir "$data/iolog-data" --port "$port" "$@" >"$data/stdout" 2>"$data/stderr" &
    server=$!
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    gateway_token=$(sed -n 's/^  gateway token:  //p' "$data/stdout")
    admin_token=$(sed -n 's/^  admin token:    //p' "$data/stdout")
    [ -n "$gateway_token" ] || { echo "no gateway token printed"; cat "$data/stderr"; exit 1; }
    sleep 1.1 # created_at must not precede the moment --dev enabled logging
}

# bench_postgres — starts a throwaway PostgreSQL cluster (scripts/postgres) and sets $pg_url to a
# fresh database on it; stopped on exit.
bench_postgres() {
    pg_dir=$(mktemp -d /tmp/iolog-bench-pg.XXXXXX)
    chmod 755 "$pg_dir"
    pg_url=$(scripts/postgres start "$pg_dir/cluster")
}

# bench_replica PORT — one more `iolog serve` on the same database as the running server.
bench_replica() {
    .build/release/iolog serve --data-dir "$data/iolog-data" --database-url "$pg_url" --port "$1" \
        --master-key-file "$data/iolog-data/master.key" >"$data/stdout-$1" 2>"$data/stderr-$1" &
    replicas="${replicas:-} $!"
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "replica on port $1 did not start"; cat "$data/stderr-$1"; exit 1
}

# bench_run_spread NAME ITEMS_PER_REQUEST PORT... — like bench_run, with $connections spread over
# one wrk per port, all at once; prints the sum of req/s and the worst p50/p99 (ms).
bench_run_spread() {
    local name=$1 items=$2
    shift 2
    local count=$# each=$((connections / $#)) index=0 pids=()
    for target in "$@"; do
        index=$((index + 1))
        IOLOG_ID_PREFIX="r$index-" wrk --latency -t1 -c"$each" -d"${seconds}s" -s scripts/bench-lib/ingest.lua \
            "http://127.0.0.1:$target" >"$data/wrk-$name-$index" &
        pids+=($!)
    done
    wait "${pids[@]}"
    local rps=0 bad=0 p50=0 p99=0
    for index in $(seq 1 "$count"); do
        local out; out=$(cat "$data/wrk-$name-$index")
        rps=$(echo "$rps + $(echo "$out" | awk '/Requests\/sec/ {print $2}')" | bc -l)
        bad=$((bad + $(echo "$out" | sed -n 's/.*unexpected=\([0-9]*\).*/\1/p')))
        p50=$(echo "$out" | awk -v m="$p50" '$1 == "50%" {v=$2; if (v ~ /ms$/) v+=0; else if (v ~ /us$/) v/=1000; else v*=1000; print (v > m ? v : m)}')
        p99=$(echo "$out" | awk -v m="$p99" '$1 == "99%" {v=$2; if (v ~ /ms$/) v+=0; else if (v ~ /us$/) v/=1000; else v*=1000; print (v > m ? v : m)}')
    done
    printf "%-28s %10.2f req/s %12.0f records/s   p50 %-8s p99 %-8s unexpected answers: %s\n" \
        "$name" "$rps" "$(echo "$rps * $items" | bc -l)" "${p50}ms" "${p99}ms" "$bad"
    echo "$rps" >"$results/rps-$name"
    echo "${p50}ms ${p99}ms" >"$results/latency-$name"
    echo "$bad" >"$results/bad-$name"
}

# bench_run NAME ITEMS_PER_REQUEST wrk-arguments... — prints one line, keeps req/s in $results/rps-NAME.
bench_run() {
    local name=$1 items=$2
    shift 2
    local out rps p50 p99 bad
    out=$(wrk --latency -t2 -c"$connections" -d"${seconds}s" "$@")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    bad=$(echo "$out" | sed -n 's/.*unexpected=\([0-9]*\).*/\1/p')
    printf "%-28s %10s req/s %12.0f records/s   p50 %-8s p99 %-8s unexpected answers: %s\n" \
        "$name" "$rps" "$(echo "$rps * $items" | bc -l)" "$p50" "$p99" "${bad:-0}"
    echo "$rps" >"$results/rps-$name"
    echo "$p50 $p99" >"$results/latency-$name"
    echo "${bad:-0}" >"$results/bad-$name"
}

bench_ratio() { # NAME BASELINE [FACTOR]
    echo "$(cat "$results/rps-$1") * ${3:-1} / $(cat "$results/rps-$2")" | bc -l
}
