# Shared by the benchmark scripts: build, start `iolog serve --dev` on a fresh data folder, run wrk.
# Source it after `cd` to the repository root; it sets $data, $port, $server, $gateway_token, $admin_token.

bench_start() { # extra serve arguments...
    if ! command -v wrk >/dev/null; then
        echo "installing wrk"
        apt-get update -qq && apt-get install -y -qq wrk >/dev/null
    fi
    scripts/setup >/dev/null
    swift build -c release --product iolog 2>&1 | tail -1
    port=${IOLOG_BENCH_PORT:-18765}
    data=$(mktemp -d)
    trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
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

# bench_run NAME ITEMS_PER_REQUEST wrk-arguments... — prints one line, keeps req/s in $data/rps-NAME.
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
    echo "$rps" >"$data/rps-$name"
}

bench_ratio() { # NAME BASELINE [FACTOR]
    echo "$(cat "$data/rps-$1") * ${3:-1} / $(cat "$data/rps-$2")" | bc -l
}
