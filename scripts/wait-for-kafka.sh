#!/bin/sh
# Usage: wait-for-kafka.sh HOST PORT [COMMAND [ARG...]]
#
# Waits until HOST:PORT accepts TCP connections, then runs COMMAND in this
# process (exec) if one is given. Gives up after WAIT_TIMEOUT seconds
# (default 60) with a message and exit status 1.
#
# The Compose images do not need it: they have no shell, Compose starts them
# once the broker's healthcheck passes, and both programs retry the broker
# themselves. It is for scripts and for images that have a shell, e.g.
#   scripts/wait-for-kafka.sh localhost 9092 kcat -b localhost:9092 -L
#
# Probes with nc -z when it is installed, otherwise with bash's /dev/tcp or
# python3, whichever is there. Plain POSIX sh otherwise.
set -eu

prog=wait-for-kafka

if [ "$#" -lt 2 ]; then
	echo "usage: $0 HOST PORT [COMMAND [ARG...]]" >&2
	exit 2
fi
host=$1
port=$2
shift 2
timeout=${WAIT_TIMEOUT:-60}

case $port in
'' | *[!0-9]*)
	echo "$prog: PORT $port is not a number" >&2
	exit 2
	;;
esac
case $timeout in
'' | *[!0-9]*)
	echo "$prog: WAIT_TIMEOUT=$timeout is not a whole number of seconds" >&2
	exit 2
	;;
esac

if command -v nc >/dev/null 2>&1; then
	probe() { nc -z -w 2 "$host" "$port" >/dev/null 2>&1; }
elif command -v bash >/dev/null 2>&1; then
	probe() { bash -c 'exec 3<>"/dev/tcp/$1/$2"' probe "$host" "$port" >/dev/null 2>&1; }
elif command -v python3 >/dev/null 2>&1; then
	probe() {
		python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()' \
			"$host" "$port" >/dev/null 2>&1
	}
else
	echo "$prog: cannot probe $host:$port: none of nc, bash or python3 is installed" >&2
	exit 1
fi

start=$(date +%s)
until probe; do
	now=$(date +%s)
	if [ $((now - start)) -ge "$timeout" ]; then
		echo "$prog: $host:$port did not accept connections within ${timeout}s" >&2
		exit 1
	fi
	sleep 1
done
echo "$prog: $host:$port is accepting connections" >&2

if [ "$#" -gt 0 ]; then
	exec "$@"
fi
