#!/usr/bin/env bats
# The documentation as a user meets it: every man page is clean under
# `mandoc -T lint`, renders its examples with their quotes, and the README
# lists the dependencies .ci/deps installs and the Makefile checks.

bats_require_minimum_version 1.5.0
load helpers

PAGES=(elog-consume.1 elog-dlq.1 elog-dump.1 elog-lag.1 elog-produce.1 elog-replay.1 elog-serve.1 elog-topic.1 elog.5 elog.7)

@test "every page is in the list this file checks" {
	run -0 bash -c "cd '$ELOG_REPO/man' && ls | sort | tr '\n' ' '"
	assert_output "$(printf '%s\n' "${PAGES[@]}" | sort | tr '\n' ' ')"
}

# Two kinds of mandoc message depend on the machine, not on the page: a
# cross-reference to a manual that is not installed here (kcat(1), or elog's
# own pages before `make install`) and a stale system mandoc.db. Everything
# else, from STYLE up, is a finding.
@test "mandoc -T lint: no message on any page" {
	command -v mandoc >/dev/null || skip "mandoc is not installed (.ci/deps installs it)"
	local page
	for page in "${PAGES[@]}"; do
		run --separate-stderr mandoc -T lint -W style "$ELOG_REPO/man/$page"
		local found
		found=$(grep -v -e 'STYLE: referenced manual not found' -e 'outdated mandoc.db' \
			<<<"$stderr
$output" || true)
		[ -z "$found" ] || fail "$page: $found"
	done
}

# mdoc takes a double quote in a macro line as argument quoting, so an
# example written as `.Dl ... "$x"` loses its quotes; and a nested Ql can
# leave an opening quote without its closing one.
@test "examples render with balanced quotes" {
	command -v mandoc >/dev/null || skip "mandoc is not installed (.ci/deps installs it)"
	local page text line quotes
	for page in "${PAGES[@]}"; do
		text=$(mandoc -T utf8 "$ELOG_REPO/man/$page" | sed 's/.\x08//g')
		# quotes from Ql/Dq alternate: an opening one, then its closing one
		quotes=$(grep -o '[‘’]' <<<"$text" | tr -d '\n')
		[ -z "${quotes//‘’/}" ] || fail "$page: quotes do not pair: $quotes"
		# shell examples: "$ command ...", joined with their continuation lines
		# (indented at least as deep as the "$")
		while IFS= read -r line; do
			local singles=${line//[^\']/} doubles=${line//[^\"]/}
			((${#singles} % 2 == 0 && ${#doubles} % 2 == 0)) ||
				fail "$page: unbalanced quotes in: $line"
		done < <(awk '/^ +\$ /{ if (cmd) print cmd; cmd = $0; next }
			cmd && /^           *[^ ]/ { sub(/^ +/, " "); cmd = cmd $0; next }
			{ if (cmd) print cmd; cmd = "" } END { if (cmd) print cmd }' <<<"$text")
	done
}

@test "the examples the issue named keep their quotes" {
	command -v mandoc >/dev/null || skip "mandoc is not installed (.ci/deps installs it)"
	run -0 bash -c "mandoc -T ascii '$ELOG_REPO/man/elog-topic.1' | sed 's/.\x08//g' | tr -s ' \n' '  '"
	assert_output --partial "awk -F '\\t' '\$1 == \"partition\" { print \$3, \$8 }'"
	run -0 bash -c "mandoc -T ascii '$ELOG_REPO/man/elog-produce.1' | sed 's/.\x08//g'"
	assert_output --partial "-K \"\$(printf '\\t')\""
}

@test "README lists what .ci/deps installs and what the Makefile checks" {
	local pkgs p
	pkgs=$(sed -n 's/^PKGS="\(.*\)"$/\1/p' "$ELOG_REPO/.ci/deps")
	[ -n "$pkgs" ]
	for p in $pkgs; do
		grep -q -- "$p" "$ELOG_REPO/README.md" || fail "README.md does not name $p"
	done
	# the Makefile's DEPS: pkg-config name:Debian package
	for p in $(sed -n 's/^DEPS = //p' "$ELOG_REPO/Makefile"); do
		[[ " $pkgs " == *" ${p#*:} "* ]] || fail ".ci/deps does not install ${p#*:}"
	done
	grep -q 'build/bin:\$PATH' "$ELOG_REPO/README.md"
	grep -q 'make install PREFIX=' "$ELOG_REPO/README.md"
}
