#!/bin/sh
# scripts/demo.sh BINDIR — the quick start's "run it": a broker on a free
# loopback port in a temporary directory, JSON lines piped through
# elog-produce, read back with elog-consume, the broker stopped by its PID.
set -eu
bin=$1
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$bin/elog-serve" -d "$tmp/data" -l 127.0.0.1:0 2>"$tmp/serve.log" &
pid=$!
i=0
until grep -q ' msg=ready ' "$tmp/serve.log"; do
	i=$((i + 1))
	if [ "$i" -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "demo: elog-serve did not start:" >&2
		cat "$tmp/serve.log" >&2
		exit 1
	fi
	sleep 0.05
done
addr=$(sed -n 's/.* msg=ready listen=\([^ ]*\) .*/\1/p' "$tmp/serve.log")
export ELOG_BROKERS="$addr"
echo "# elog-serve is listening on $addr (data in $tmp/data)"

echo "# elog-topic create -p 3 orders"
"$bin/elog-topic" create -p 3 orders

echo "# 5 JSON lines | elog-produce -k user orders"
for n in 1 2 3 4 5; do
	printf '{"user":"u%d","order":%d,"total":%d.50}\n' $((n % 2)) "$n" $((n * 10))
done | "$bin/elog-produce" -k user orders

echo "# elog-consume -e --json orders"
"$bin/elog-consume" -e --json orders

echo "# elog-topic describe orders"
"$bin/elog-topic" describe orders
