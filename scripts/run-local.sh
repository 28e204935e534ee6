#!/usr/bin/env bash
# Runs the whole pipeline on this machine: the development broker (unless a
# broker already listens on KAFKA_SERVER), the producer and the consumer.
# Settings come from .env when present, otherwise from the defaults.
# Ctrl-C stops all three.
#
# The development broker keeps its topics and committed offsets in
# DEVBROKER_DATA_DIR (default data/devbroker; set it empty to keep them in
# memory only), so that the next run finishes the windows this one left
# open. FRESH=1 (make run-local-fresh) removes that folder first and starts
# from an empty topic; the output stays.
#
# The producer and the consumer both read METRICS_ADDR; here each gets its
# own: CONSUMER_METRICS_ADDR (default METRICS_ADDR, else 127.0.0.1:8080:
# the dashboard) and PRODUCER_METRICS_ADDR (default 127.0.0.1:8081).
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
# Unset means the default folder; set but empty means memory only.
export DEVBROKER_DATA_DIR=${DEVBROKER_DATA_DIR-data/devbroker}
consumer_http=${CONSUMER_METRICS_ADDR:-${METRICS_ADDR:-127.0.0.1:8080}}
producer_http=${PRODUCER_METRICS_ADDR:-127.0.0.1:8081}
if [ "$consumer_http" = "$producer_http" ] && [ "$consumer_http" != off ]; then
	echo "run-local: the consumer and the producer would both serve HTTP on $consumer_http; set CONSUMER_METRICS_ADDR or PRODUCER_METRICS_ADDR" >&2
	exit 2
fi

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

# url prints where a browser on this machine reaches a server listening on
# addr, as METRICS_ADDR takes it (":8080" is every interface).
url() {
	local h=${1%:*} p=${1##*:}
	case "$h" in
	"" | 0.0.0.0) h=127.0.0.1 ;;
	"[::]" | ::) h="[::1]" ;;
	esac
	printf 'http://%s:%s' "$h" "$p"
}

# fresh removes the development broker's folder, unless it holds the output
# or the campaigns file (DEVBROKER_DATA_DIR=data, say).
fresh() {
	local dir=$DEVBROKER_DATA_DIR abs keep
	if [ -z "$dir" ] || [ ! -e "$dir" ]; then
		return 0
	fi
	abs=$(cd "$dir" && pwd -P)
	for keep in "$OUTPUT_DIR" "$(dirname "$CAMPAIGNS_CSV_PATH")" .; do
		keep=$(cd "$keep" 2>/dev/null && pwd -P) || continue
		case "$keep/" in
		"$abs"/*)
			echo "run-local: FRESH: not removing DEVBROKER_DATA_DIR=$dir, it holds $keep" >&2
			exit 2
			;;
		esac
	done
	rm -rf -- "$dir"
	echo "run-local: FRESH: removed the development broker's state in $dir (the output in $OUTPUT_DIR stays)" >&2
}

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
broker="a broker already listening on $host:$port"
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
	echo "run-local: a broker already listens on $host:$port; using it${FRESH:+ (FRESH applies only to the development broker this script starts)}" >&2
else
	case "${FRESH:-}" in
	1 | true | yes) fresh ;;
	esac
	DEVBROKER_ADDR="$host:$port" "$BIN/devbroker" &
	broker_pid=$!
	broker="development broker on $host:$port, state in ${DEVBROKER_DATA_DIR:-memory only (DEVBROKER_DATA_DIR is empty)}"
fi
METRICS_ADDR=$producer_http "$BIN/producer" &
app_pids+=($!)
METRICS_ADDR=$consumer_http "$BIN/consumer" &
app_pids+=($!)
dashboard="off (METRICS_ADDR=off)"
[ "$consumer_http" != off ] && dashboard="$(url "$consumer_http")/"
producer_metrics="off"
[ "$producer_http" != off ] && producer_metrics="$(url "$producer_http")/metrics"
cat >&2 <<EOF
run-local: running. Ctrl-C stops; make run-local again resumes, FRESH=1 make run-local starts from scratch.
  dashboard         $dashboard  (and /metrics, /healthz, /readyz, /api/state)
  producer metrics  $producer_metrics
  broker            $broker
  output            $OUTPUT_DIR, the first files once a window closes (WINDOW_DURATION + WATERMARK_DELAY after it starts)
EOF
# A child exiting on its own (a configuration error, say) stops the rest.
wait -n "${app_pids[@]}" ${broker_pid:+"$broker_pid"} || true
stop
