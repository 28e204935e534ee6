#!/usr/bin/env bash
# Runs the whole pipeline on this machine: the development broker (unless a
# broker already listens on KAFKA_SERVER), the producer and the consumer.
# Settings come from .env when present, otherwise from the defaults.
# Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}

if [ -f .env ]; then
	set -a
	# shellcheck disable=SC1091
	. ./.env
	set +a
fi

export KAFKA_SERVER=${KAFKA_SERVER:-localhost:9092}
# .env.example points the containers at the compose broker's internal
# listener; from the host, that broker is published on localhost:9092.
case "$KAFKA_SERVER" in
broker:*)
	echo "run-local: KAFKA_SERVER=$KAFKA_SERVER is the compose-internal address; using localhost:9092" >&2
	export KAFKA_SERVER=localhost:9092
	;;
esac
export CAMPAIGNS_CSV_PATH=${CAMPAIGNS_CSV_PATH:-data/log_data/input_data/campaigns.csv}
export OUTPUT_DIR=${OUTPUT_DIR:-data/output_data}

mkdir -p "$OUTPUT_DIR" "$(dirname "$CAMPAIGNS_CSV_PATH")"
if [ ! -f "$CAMPAIGNS_CSV_PATH" ]; then
	{
		echo "network_id,campaign_id,campaign_name"
		for c in 10 20 30; do echo "1,$c,Campaign $c"; done
		for c in 40 50; do echo "2,$c,Campaign $c"; done
		for c in 60 70 80 90; do echo "3,$c,Campaign $c"; done
		for c in 100 110 120 130 140; do echo "4,$c,Campaign $c"; done
	} >"$CAMPAIGNS_CSV_PATH"
	echo "run-local: wrote $CAMPAIGNS_CSV_PATH" >&2
fi

first=${KAFKA_SERVER%%,*}
host=${first%:*}
port=${first##*:}
[ "$host" = localhost ] && host=127.0.0.1

broker_pid=
app_pids=()
stop() {
	trap - INT TERM
	echo "run-local: stopping" >&2
	# Producer and consumer first, so they flush and commit while the
	# broker is still there.
	for pid in "${app_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${app_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ -n "$broker_pid" ]; then
		kill -TERM "$broker_pid" 2>/dev/null || true
		wait "$broker_pid" 2>/dev/null || true
	fi
	exit 0
}
trap stop INT TERM

# Each child in its own process group: Ctrl-C reaches only this script,
# which then stops them in order instead of all at once.
set -m
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
	echo "run-local: a broker already listens on $host:$port; using it" >&2
else
	DEVBROKER_ADDR="$host:$port" "$BIN/devbroker" &
	broker_pid=$!
fi
"$BIN/producer" &
app_pids+=($!)
"$BIN/consumer" &
app_pids+=($!)
echo "run-local: running; Parquet files appear under $OUTPUT_DIR once the first window closes (WINDOW_DURATION + WATERMARK_DELAY after it starts). Ctrl-C stops." >&2
# A child exiting on its own (a configuration error, say) stops the rest.
wait -n "${app_pids[@]}" ${broker_pid:+"$broker_pid"} || true
stop
