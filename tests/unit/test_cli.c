/* Unit tests: cli — value parsers, timestamps, option tables, diagnostics. */
#include "t.h"

#include <time.h>
#include "cli.h"

#include <fcntl.h>
#include <stdint.h>

/* ------------------------------------------------------------- integers */

static void test_u64(void)
{
	struct elog_err err;
	uint64_t v = 7;

	T_OK(elog_cli_parse_u64("0", 0, 10, &v, &err), &err);
	T_EQ_INT(v, 0);
	T_OK(elog_cli_parse_u64("65535", 1, 65535, &v, &err), &err);
	T_EQ_INT(v, 65535);
	T_OK(elog_cli_parse_u64("18446744073709551615", 0, UINT64_MAX, &v, &err), &err);
	T_ASSERT(v == UINT64_MAX);
	T_OK(elog_cli_parse_u64("007", 0, 10, &v, &err), &err);
	T_EQ_INT(v, 7);

	v = 99;
	T_CHECK(elog_cli_parse_u64("18446744073709551616", 0, UINT64_MAX, &v, &err) == -1);
	T_CHECK(err.code == ELOG_E_INVAL);
	T_CHECK(strstr(err.msg, "out of range") != NULL);
	T_CHECK(elog_cli_parse_u64("65536", 1, 65535, &v, &err) == -1);
	T_CHECK(strcmp(err.msg, "number \"65536\" out of range 1..65535") == 0);
	T_CHECK(elog_cli_parse_u64("0", 1, 65535, &v, &err) == -1);
	T_CHECK(v == 99); /* untouched on failure */

	const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1k", "0x10", "1.0", "abc"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_CHECK(elog_cli_parse_u64(bad[i], 0, UINT64_MAX, &v, &err) == -1);
		T_CHECK(strncmp(err.msg, "invalid number \"", 16) == 0);
	}
	T_CHECK(elog_cli_parse_u64(NULL, 0, 1, &v, &err) == -1);
	T_CHECK(v == 99);
}

static void test_i64(void)
{
	struct elog_err err;
	int64_t v = 0;

	T_OK(elog_cli_parse_i64("-1", -1, 1, &v, &err), &err);
	T_EQ_INT(v, -1);
	T_OK(elog_cli_parse_i64("-0", -1, 1, &v, &err), &err);
	T_EQ_INT(v, 0);
	T_OK(elog_cli_parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v, &err), &err);
	T_ASSERT(v == INT64_MAX);
	T_OK(elog_cli_parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v, &err), &err);
	T_ASSERT(v == INT64_MIN);
	T_CHECK(elog_cli_parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v, &err) == -1);
	T_CHECK(elog_cli_parse_i64("-9223372036854775809", INT64_MIN, INT64_MAX, &v, &err) == -1);
	T_CHECK(elog_cli_parse_i64("-2", -1, 1, &v, &err) == -1);
	T_CHECK(strcmp(err.msg, "number \"-2\" out of range -1..1") == 0);
	T_CHECK(elog_cli_parse_i64("-", INT64_MIN, INT64_MAX, &v, &err) == -1);
	T_CHECK(elog_cli_parse_i64("--1", INT64_MIN, INT64_MAX, &v, &err) == -1);
	T_CHECK(elog_cli_parse_i64("+1", INT64_MIN, INT64_MAX, &v, &err) == -1);
	T_CHECK(elog_cli_parse_i64("1-", INT64_MIN, INT64_MAX, &v, &err) == -1);
	T_CHECK(elog_cli_parse_i64("", INT64_MIN, INT64_MAX, &v, &err) == -1);
}

/* ----------------------------------------------------------------- sizes */

static void test_size_units(void)
{
	static const struct {
		const char *in;
		uint64_t bytes;
	} ok[] = {
		{"0", 0}, {"512", 512}, {"512b", 512}, {"512B", 512},
		{"64k", 65536}, {"64K", 65536}, {"64KiB", 65536},
		{"16M", 16u << 20}, {"16m", 16u << 20}, {"16MiB", 16u << 20},
		{"1G", 1u << 30}, {"1g", 1u << 30}, {"1GiB", 1u << 30},
		{"2T", 2ull << 40}, {"2TiB", 2ull << 40},
	};
	struct elog_err err;
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		T_OK(elog_cli_parse_size(ok[i].in, &v, &err), &err);
		T_CHECK(v == ok[i].bytes);
	}
	T_OK(elog_cli_parse_size("18446744073709551615", &v, &err), &err);
	T_CHECK(v == UINT64_MAX);
	T_OK(elog_cli_parse_size("16777215T", &v, &err), &err);
	T_CHECK(v == 16777215ull << 40);
}

static void test_size_errors(void)
{
	const char *bad[] = {"", "k", "-1", "1.5G", "1 G", " 1G", "1GB", "1KB", "1kb", "1MB",
			     "1Gi", "1iB", "1x", "1GiBs", "0x10", "1KIB"};
	struct elog_err err;
	uint64_t v = 3;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_CHECK(elog_cli_parse_size(bad[i], &v, &err) == -1);
		T_CHECK(err.code == ELOG_E_INVAL);
		T_CHECK(strncmp(err.msg, "invalid size \"", 14) == 0);
	}
	T_CHECK(v == 3);
	T_CHECK(elog_cli_parse_size("12x", &v, &err) == -1);
	T_CHECK(strncmp(err.msg, "invalid size \"12x\": unknown unit \"x\"", 36) == 0);
	T_CHECK(elog_cli_parse_size("16777216T", &v, &err) == -1);
	T_CHECK(strcmp(err.msg, "size \"16777216T\" too large") == 0);
	T_CHECK(elog_cli_parse_size("18446744073709551616", &v, &err) == -1);
	T_CHECK(strstr(err.msg, "too large") != NULL);
	T_CHECK(elog_cli_parse_size(NULL, &v, &err) == -1);
	T_CHECK(v == 3);
}

/* ------------------------------------------------------------- durations */

static void test_duration(void)
{
	static const struct {
		const char *in;
		int64_t ms;
	} ok[] = {
		{"0", 0}, {"0ms", 0}, {"250ms", 250}, {"5s", 5000}, {"1m", 60000},
		{"2h", 7200000}, {"7d", 604800000}, {"1h30m", 5400000}, {"1m5s", 65000},
		{"1s500ms", 1500}, {"9223372036854775807ms", INT64_MAX},
	};
	struct elog_err err;
	int64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		T_OK(elog_cli_parse_duration_ms(ok[i].in, &v, &err), &err);
		T_CHECK(v == ok[i].ms);
	}
}

static void test_duration_errors(void)
{
	const char *bad[] = {"", "5", "s", "-5s", "5 s", "5sec", "5S", "1.5s", "5us", "1w",
			     "5s ", "h1", "1hh", "ms"};
	struct elog_err err;
	int64_t v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_CHECK(elog_cli_parse_duration_ms(bad[i], &v, &err) == -1);
		T_CHECK(strncmp(err.msg, "invalid duration \"", 18) == 0);
	}
	T_CHECK(elog_cli_parse_duration_ms("5", &v, &err) == -1);
	T_CHECK(strcmp(err.msg, "invalid duration \"5\": missing or unknown unit (ms, s, m, h, d)") == 0);
	T_CHECK(elog_cli_parse_duration_ms("9223372036854775808ms", &v, &err) == -1);
	T_CHECK(strstr(err.msg, "too large") != NULL);
	T_CHECK(elog_cli_parse_duration_ms("106751991168d", &v, &err) == -1);
	T_CHECK(strstr(err.msg, "too large") != NULL);
	T_CHECK(elog_cli_parse_duration_ms("9223372036854775807ms1ms", &v, &err) == -1);
	T_CHECK(strstr(err.msg, "too large") != NULL);
	T_CHECK(elog_cli_parse_duration_ms(NULL, &v, &err) == -1);
	T_CHECK(v == 42);
}

/* The unit a duration was given in comes back, and formats it again. */
static void test_duration_units(void)
{
	static const struct {
		const char *in;
		int64_t ms, unit_ms;
		const char *again;
	} cases[] = {
		{"0", 0, 0, "0"},          {"7d", 604800000, 86400000, "7d"},
		{"168h", 604800000, 3600000, "168h"},
		{"1h30m", 5400000, 60000, "90m"},
		{"1s500ms", 1500, 1, "1500ms"}, {"90s", 90000, 1000, "90s"},
		{"60000ms", 60000, 1, "60000ms"}, {"1m", 60000, 60000, "1m"},
	};
	struct elog_err err;
	char out[ELOG_CLI_VALUE_MAX];
	int64_t ms, unit_ms;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		T_OK(elog_cli_parse_duration(cases[i].in, &ms, &unit_ms, &err), &err);
		T_EQ_INT(ms, cases[i].ms);
		T_EQ_INT(unit_ms, cases[i].unit_ms);
		elog_cli_format_duration(ms, unit_ms, out, sizeof(out));
		T_CHECK(strcmp(out, cases[i].again) == 0);
	}
	T_CHECK(elog_cli_parse_duration("7", &ms, &unit_ms, &err) == -1);
	/* no unit, or one that does not divide: the largest exact unit */
	elog_cli_format_duration(604800000, 0, out, sizeof(out));
	T_CHECK(strcmp(out, "7d") == 0);
	elog_cli_format_duration(90000, 3600000, out, sizeof(out));
	T_CHECK(strcmp(out, "90s") == 0);
	elog_cli_format_duration(250, 0, out, sizeof(out));
	T_CHECK(strcmp(out, "250ms") == 0);
	elog_cli_format_duration(-1, 86400000, out, sizeof(out));
	T_CHECK(strcmp(out, "-1") == 0);
	elog_cli_format_duration(INT64_MAX, 0, out, sizeof(out));
	T_CHECK(strcmp(out, "9223372036854775807ms") == 0);
}

static void test_size_format(void)
{
	static const struct {
		uint64_t bytes;
		const char *exact, *human;
	} cases[] = {
		{0, "0", "0"},
		{512, "512", "512"},
		{1000, "1000", "1000"},
		{1023, "1023", "1023"},
		{1024, "1K", "1K"},
		{1536, "1536", "1.5K"},
		{98304, "96K", "96K"},
		{1000000, "1000000", "977K"},
		{1258291, "1258291", "1.2M"},
		{10433331, "10433331", "9.9M"},
		{10433332, "10433332", "10M"},
		{16777216, "16M", "16M"},
		{134217728, "128M", "128M"},
		{1073741823, "1073741823", "1G"},
		{1073741824, "1G", "1G"},
		{UINT64_C(1) << 40, "1T", "1T"},
		{UINT64_C(1) << 50, "1024T", "1024T"},
		{UINT64_MAX, "18446744073709551615", "16777216T"},
	};
	struct elog_err err;
	char out[ELOG_CLI_VALUE_MAX];
	uint64_t back;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		elog_cli_format_size(cases[i].bytes, out, sizeof(out));
		if (strcmp(out, cases[i].exact) != 0)
			fprintf(stderr, "# %" PRIu64 " -> %s\n", cases[i].bytes, out);
		T_CHECK(strcmp(out, cases[i].exact) == 0);
		T_OK(elog_cli_parse_size(out, &back, &err), &err);
		T_CHECK(back == cases[i].bytes);
		elog_cli_format_size_human(cases[i].bytes, out, sizeof(out));
		if (strcmp(out, cases[i].human) != 0)
			fprintf(stderr, "# %" PRIu64 " -> %s\n", cases[i].bytes, out);
		T_CHECK(strcmp(out, cases[i].human) == 0);
	}
}

/* ------------------------------------------------------------ timestamps */

static void test_timestamp_rfc3339(void)
{
	static const struct {
		const char *in;
		int64_t ms;
	} ok[] = {
		{"1970-01-01T00:00:00Z", 0},
		{"1970-01-01", 0},
		{"1970-01-01t00:00:00z", 0},
		{"1970-01-01 00:00:01Z", 1000},
		{"2024-01-02T03:04:05Z", 1704164645000},
		{"2024-01-02T03:04:05.123Z", 1704164645123},
		{"2024-01-02T03:04:05.1Z", 1704164645100},
		{"2024-01-02T03:04:05.123456789Z", 1704164645123},
		{"2024-01-02T05:04:05+02:00", 1704164645000},
		{"2024-01-01T22:34:05-04:30", 1704164645000},
		{"2024-02-29T00:00:00Z", 1709164800000},
		{"2000-02-29", 951782400000},
		{"1969-12-31T23:59:59.999Z", -1},
		{"0000-01-01T00:00:00Z", -62167219200000},
		{"9999-12-31T23:59:59.999Z", 253402300799999},
		{"2016-12-31T23:59:60Z", 1483228800000}, /* leap second: one past :59 */
	};
	struct elog_err err;
	int64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		T_OK(elog_cli_parse_timestamp_ms(ok[i].in, &v, &err), &err);
		if (v != ok[i].ms)
			fprintf(stderr, "# %s -> %" PRId64 "\n", ok[i].in, v);
		T_CHECK(v == ok[i].ms);
	}
}

static void test_timestamp_epoch(void)
{
	struct elog_err err;
	int64_t v;

	T_OK(elog_cli_parse_timestamp_ms("1704164645123", &v, &err), &err);
	T_CHECK(v == 1704164645123);
	T_OK(elog_cli_parse_timestamp_ms("0", &v, &err), &err);
	T_CHECK(v == 0);
	T_OK(elog_cli_parse_timestamp_ms("-1000", &v, &err), &err);
	T_CHECK(v == -1000);
	T_CHECK(elog_cli_parse_timestamp_ms("99999999999999999999", &v, &err) == -1);
	T_CHECK(strstr(err.msg, "out of range") != NULL);
}

static void test_timestamp_errors(void)
{
	const char *bad[] = {
		"", "-", "now", "2024-01", "2024-1-02", "2024-01-02T", "2024-01-02T03:04Z",
		"2024-01-02T03:04", "2024-01-02T03:04:05.Z", "2024-01-02T03:04:05+0200",
		"2024-01-02T03:04:05+02", "2024-01-02T03:04:05+", "2024-01-02T03:04:05+24:00",
		"2024-01-02T03:04:05+02:60", "2024-01-02T24:00:00Z", "2024-01-02T23:60:00Z",
		"2024-01-02T23:59:61Z", "2024-13-01", "2024-00-01", "2024-01-00", "2024-01-32",
		"2023-02-29", "1900-02-29", "2024-04-31", "2024-01-02X03:04:05Z",
		"2024-01-02T03:04:05Zjunk", "2024-01-02T03:04:05ZZ", "+2024-01-02", "2024-01-02 ",
		"12:00:00Z", "2024-01-02T3:04:05Z", "1e3", "-1x", "-h", "--1h", "-1h ", "+1h",
	};
	struct elog_err err;
	int64_t v = 5;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = elog_cli_parse_timestamp_ms(bad[i], &v, &err);
		if (r != -1)
			fprintf(stderr, "# accepted %s\n", bad[i]);
		T_CHECK(r == -1);
		T_CHECK(err.code == ELOG_E_INVAL);
	}
	T_CHECK(v == 5);
	T_CHECK(elog_cli_parse_timestamp_ms("now", &v, &err) == -1);
	T_CHECK(strstr(err.msg, "invalid timestamp \"now\": expected RFC 3339") == err.msg);
	T_CHECK(elog_cli_parse_timestamp_ms(NULL, &v, &err) == -1);
}

/* Without a zone: local time, in TZ's zone. */
static void test_timestamp_local(void)
{
	struct elog_err err;
	int64_t v;

	T_CHECK(setenv("TZ", "XYZ-02", 1) == 0);   /* POSIX: two hours east of UTC */
	tzset();
	T_OK(elog_cli_parse_timestamp_ms("2024-01-02T05:04:05", &v, &err), &err);
	T_CHECK(v == 1704164645000);
	T_OK(elog_cli_parse_timestamp_ms("2024-01-02 05:04:05.123", &v, &err), &err);
	T_CHECK(v == 1704164645123);
	T_OK(elog_cli_parse_timestamp_ms("1970-01-01", &v, &err), &err);
	T_CHECK(v == -7200000);
	/* a zone given is still that zone */
	T_OK(elog_cli_parse_timestamp_ms("2024-01-02T03:04:05Z", &v, &err), &err);
	T_CHECK(v == 1704164645000);
	/* daylight saving time by the zone's rules: CET, CEST from the last
	 * Sunday of March 02:00 to the last Sunday of October 03:00 */
	T_CHECK(setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1) == 0);
	tzset();
	T_OK(elog_cli_parse_timestamp_ms("2024-01-15T12:00:00", &v, &err), &err);
	T_CHECK(v == 1705316400000);                  /* 11:00Z */
	T_OK(elog_cli_parse_timestamp_ms("2024-07-15T12:00:00", &v, &err), &err);
	T_CHECK(v == 1721037600000);                  /* 10:00Z */
	T_CHECK(setenv("TZ", "UTC", 1) == 0);
	tzset();
	T_OK(elog_cli_parse_timestamp_ms("2024-07-15T12:00:00", &v, &err), &err);
	T_CHECK(v == 1721044800000);
}

/* -DURATION: that long before now. */
static void test_timestamp_relative(void)
{
	struct elog_err err;
	int64_t v, before, after;
	struct timespec ts;

	T_OK(elog_cli_parse_timestamp_ms_at("-1h", 1700000000000, &v, &err), &err);
	T_CHECK(v == 1700000000000 - 3600000);
	T_OK(elog_cli_parse_timestamp_ms_at("-1h30m", 1700000000000, &v, &err), &err);
	T_CHECK(v == 1700000000000 - 5400000);
	T_OK(elog_cli_parse_timestamp_ms_at("-250ms", 0, &v, &err), &err);
	T_CHECK(v == -250);
	T_OK(elog_cli_parse_timestamp_ms_at("-7d", 1700000000000, &v, &err), &err);
	T_CHECK(v == 1700000000000 - 7 * 86400000LL);
	/* digits alone stay epoch milliseconds */
	T_OK(elog_cli_parse_timestamp_ms_at("-1000", 1700000000000, &v, &err), &err);
	T_CHECK(v == -1000);
	/* the real clock */
	clock_gettime(CLOCK_REALTIME, &ts);
	before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	T_OK(elog_cli_parse_timestamp_ms("-1m", &v, &err), &err);
	clock_gettime(CLOCK_REALTIME, &ts);
	after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	T_CHECK(v >= before - 60000 && v <= after - 60000);
	T_CHECK(elog_cli_parse_timestamp_ms_at("-1h", INT64_MIN + 5, &v, &err) == -1);
}

static void test_timestamp_format(void)
{
	static const struct {
		int64_t ms;
		const char *out;
	} cases[] = {
		{0, "1970-01-01T00:00:00.000Z"},
		{-1, "1969-12-31T23:59:59.999Z"},
		{1704164645123, "2024-01-02T03:04:05.123Z"},
		{951782400000, "2000-02-29T00:00:00.000Z"},
		{253402300799999, "9999-12-31T23:59:59.999Z"},
		{-62167219200000, "0000-01-01T00:00:00.000Z"},
	};
	char buf[ELOG_CLI_TIMESTAMP_MAX];
	struct elog_err err;
	int64_t back;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		elog_cli_format_timestamp(cases[i].ms, buf, sizeof(buf));
		T_CHECK(strcmp(buf, cases[i].out) == 0);
	}
	/* Round trips over a spread of days, both sides of the epoch. */
	for (int64_t ms = -62167219200000; ms < 253402300799999; ms += 86399999 * 7919ll) {
		elog_cli_format_timestamp(ms, buf, sizeof(buf));
		T_OK(elog_cli_parse_timestamp_ms(buf, &back, &err), &err);
		T_ASSERT(back == ms);
	}
	/* Extremes format without overflowing the buffer. */
	elog_cli_format_timestamp(INT64_MIN, buf, sizeof(buf));
	T_CHECK(strlen(buf) < sizeof(buf) - 1);
	elog_cli_format_timestamp(INT64_MAX, buf, sizeof(buf));
	T_CHECK(strlen(buf) < sizeof(buf) - 1);
}

/* ------------------------------------------------------------ option table */

enum { OPT_VERSION = 256, OPT_LIMIT };

static const struct elog_cli_option test_options[] = {
	{'r', "records", NULL, "also print every record"},
	{'s', "segment-bytes", "SIZE", "roll segments at SIZE"},
	{'x', NULL, NULL, "short only"},
	{OPT_LIMIT, "limit", "N", "stop after N"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

static const struct elog_cli_program test_program = {
	.synopsis = "[-rx] [-s size] path ...",
	.summary = "A test program.",
	.options = test_options,
};

static void test_getopt(void)
{
	char a0[] = "/usr/bin/elog-test", a1[] = "-r", a2[] = "path1", a3[] = "--segment-bytes=16M",
	     a4[] = "--limit", a5[] = "7", a6[] = "-xs1k", a7[] = "--", a8[] = "-notanoption";
	char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, NULL};
	struct elog_cli_getopt g;

	elog_cli_init(argv[0]);
	elog_cli_getopt_init(&g, &test_program, 9, argv);
	T_CHECK(strcmp(argv[0], "elog-test") == 0);
	T_EQ_INT(elog_cli_getopt_next(&g), 'r');
	T_CHECK(g.arg == NULL);
	T_EQ_INT(elog_cli_getopt_next(&g), 's');
	T_CHECK(strcmp(g.arg, "16M") == 0);
	T_EQ_INT(elog_cli_getopt_next(&g), OPT_LIMIT);
	T_CHECK(strcmp(g.arg, "7") == 0);
	T_EQ_INT(elog_cli_getopt_next(&g), 'x');
	T_EQ_INT(elog_cli_getopt_next(&g), 's');
	T_CHECK(strcmp(g.arg, "1k") == 0);
	T_EQ_INT(elog_cli_getopt_next(&g), ELOG_CLI_END);
	/* operands are permuted to the end, after "--" handling */
	T_EQ_INT(g.index, 7);
	T_CHECK(strcmp(argv[g.index], "path1") == 0);
	T_CHECK(strcmp(argv[g.index + 1], "-notanoption") == 0);
}

/* --help and --version are answered by the parser itself, the same in every tool. */
static void test_getopt_help_and_version(void)
{
	char a0[] = "elog-test", a1[] = "--version", a2[] = "-h";
	char *argv[] = {a0, a1, a2, NULL};
	struct elog_cli_getopt g;
	int saved = dup(1), devnull = open("/dev/null", O_WRONLY);

	T_ASSERT(saved >= 0 && devnull >= 0);
	fflush(stdout);
	dup2(devnull, 1);
	elog_cli_getopt_init(&g, &test_program, 3, argv);
	int first = elog_cli_getopt_next(&g), second = elog_cli_getopt_next(&g);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(devnull);
	T_EQ_INT(first, ELOG_CLI_DONE);
	T_EQ_INT(second, ELOG_CLI_DONE);
}

/* Run fn with stderr sent to a file; return what was written (static buffer). */
static const char *capture_stderr(void (*fn)(void))
{
	static char out[4096];
	char path[4200];
	int saved, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/stderr", t_tmpdir());
	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (saved < 0 || fd < 0)
		return "";
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

static int bad_results[3];

static void parse_bad_options(void)
{
	char a0[] = "elog-test", b1[] = "--nope", b2[] = "-q", b3[] = "--limit";
	char *argv1[] = {a0, b1, NULL}, *argv2[] = {a0, b2, NULL}, *argv3[] = {a0, b3, NULL};
	struct elog_cli_getopt g;

	elog_cli_getopt_init(&g, &test_program, 2, argv1);
	bad_results[0] = elog_cli_getopt_next(&g);
	elog_cli_getopt_init(&g, &test_program, 2, argv2);
	bad_results[1] = elog_cli_getopt_next(&g);
	elog_cli_getopt_init(&g, &test_program, 2, argv3);
	bad_results[2] = elog_cli_getopt_next(&g);
}

static void test_getopt_errors(void)
{
	const char *out;

	elog_cli_init("elog-test");
	out = capture_stderr(parse_bad_options);
	T_EQ_INT(bad_results[0], ELOG_CLI_BAD);
	T_EQ_INT(bad_results[1], ELOG_CLI_BAD);
	T_EQ_INT(bad_results[2], ELOG_CLI_BAD);
	T_CHECK(strstr(out, "elog-test: unrecognized option '--nope'\n") != NULL);
	T_CHECK(strstr(out, "elog-test: invalid option -- 'q'\n") != NULL);
	T_CHECK(strstr(out, "elog-test: option '--limit' requires an argument\n") != NULL);
}

static void test_help(void)
{
	char path[4200];
	char text[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/help", t_tmpdir());
	f = fopen(path, "w+");
	T_ASSERT(f != NULL);
	elog_cli_init("elog-test");
	elog_cli_help(f, &test_program);
	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	T_CHECK(strcmp(text,
		       "usage: elog-test [-rx] [-s size] path ...\n"
		       "\n"
		       "A test program.\n"
		       "\n"
		       "options:\n"
		       "  -r, --records             also print every record\n"
		       "  -s, --segment-bytes=SIZE  roll segments at SIZE\n"
		       "  -x                        short only\n"
		       "      --limit=N             stop after N\n"
		       "  -h, --help                print this help and exit\n"
		       "      --version             print the version and exit\n") == 0);
	if (strstr(text, "usage") != text)
		fputs(text, stderr);
}

/* ------------------------------------------------------------ diagnostics */

static void emit_diagnostics(void)
{
	struct elog_err err;
	char longer[2000];

	elog_err_set(&err, ELOG_E_CORRUPT, "byte %d: batch crc mismatch", 8192);
	elog_cli_error("cannot connect to %s", "10.0.0.5:7411");
	elog_cli_error_err(&err, "%s", "00000000000000000000.log");
	elog_cli_error_err(&err, NULL);
	elog_cli_error_err(NULL, "x");
	elog_cli_error_errno(2, "open %s", "f");
	elog_cli_warn("%s: missing", "a.idx");
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	elog_cli_error("%s", longer);
}

static void test_diagnostics(void)
{
	const char *out;
	const char *nl;

	elog_cli_init("/some/where/elog-dump");
	T_CHECK(strcmp(elog_cli_prog(), "elog-dump") == 0);
	out = capture_stderr(emit_diagnostics);
	nl = "elog-dump: cannot connect to 10.0.0.5:7411\n"
	     "elog-dump: 00000000000000000000.log: byte 8192: batch crc mismatch\n"
	     "elog-dump: byte 8192: batch crc mismatch\n"
	     "elog-dump: x: unknown error\n"
	     "elog-dump: open f: No such file or directory\n"
	     "elog-dump: warning: a.idx: missing\n"
	     "elog-dump: aaaa";
	T_CHECK(strncmp(out, nl, strlen(nl)) == 0);
	/* the long line is cut to one line, still newline-terminated */
	T_EQ_INT(strlen(out + strlen(nl) - 15), 1023);
	T_CHECK(out[strlen(out) - 1] == '\n');
	elog_cli_init("");
	T_CHECK(strcmp(elog_cli_prog(), "elog-dump") == 0);
	elog_cli_init("elog-test");
}

static int rate_results[4];

static void rate_bad_options(void)
{
	static const char *const bad[4] = {"10", "0/s", "5/d", "/s"};
	double per_ms;

	for (int i = 0; i < 4; i++)
		rate_results[i] = elog_cli_rate_option(&test_program, "--rate", bad[i], &per_ms);
}

/* --rate: the unit required; the bucket gives a token now and then one a
 * 1/rate later, and holds at most 100 ms' worth (at least one). */
static void test_rate(void)
{
	struct elog_cli_rate r;
	double per_ms = 0;
	const char *out;

	T_CHECK(elog_cli_rate_option(&test_program, "--rate", "100/s", &per_ms) == -1);
	T_CHECK(per_ms > 0.0999 && per_ms < 0.1001);
	T_CHECK(elog_cli_rate_option(&test_program, "--rate", "600/m", &per_ms) == -1);
	T_CHECK(per_ms > 0.0099 && per_ms < 0.0101);
	out = capture_stderr(rate_bad_options);
	for (int i = 0; i < 4; i++)
		T_EQ_INT(rate_results[i], ELOG_EXIT_USAGE);
	T_CHECK(strstr(out, "elog-test: --rate: invalid rate \"10\": records per unit, e.g. 100/s, "
			    "600/m, 5000/h\n") != NULL);
	T_CHECK(strstr(out, "elog-test: --rate: invalid rate \"5/d\": unknown unit \"/d\" "
			    "(/s, /m or /h)\n") != NULL);
	elog_cli_rate_init(&r, 0.01, 1000);             /* 10 a second */
	T_EQ_INT(elog_cli_rate_take(&r, 1000), 0);
	T_CHECK(elog_cli_rate_take(&r, 1000) >= 100);
	T_CHECK(elog_cli_rate_take(&r, 1050) > 0);
	T_EQ_INT(elog_cli_rate_take(&r, 1100), 0);
	T_EQ_INT(elog_cli_rate_take(&r, 100000), 0);    /* a long pause fills one token only */
	T_CHECK(elog_cli_rate_take(&r, 100000) > 0);
	elog_cli_rate_init(&r, 1.0, 0);                 /* 1000 a second: bursts of 100 */
	for (int i = 0; i < 100; i++)
		T_EQ_INT(elog_cli_rate_take(&r, 10000), 0);
	T_CHECK(elog_cli_rate_take(&r, 10000) > 0);
	elog_cli_rate_init(&r, 0, 0);                   /* no limit */
	for (int i = 0; i < 1000; i++)
		T_EQ_INT(elog_cli_rate_take(&r, 0), 0);
}

int main(void)
{
	/* Zone-less timestamps are local time: pin the zone (tests change it). */
	setenv("TZ", "UTC", 1);
	tzset();
	T_RUN(test_u64);
	T_RUN(test_i64);
	T_RUN(test_size_units);
	T_RUN(test_size_errors);
	T_RUN(test_duration);
	T_RUN(test_duration_errors);
	T_RUN(test_duration_units);
	T_RUN(test_size_format);
	T_RUN(test_timestamp_rfc3339);
	T_RUN(test_timestamp_epoch);
	T_RUN(test_timestamp_errors);
	T_RUN(test_timestamp_local);
	T_RUN(test_timestamp_relative);
	T_RUN(test_timestamp_format);
	T_RUN(test_getopt);
	T_RUN(test_getopt_help_and_version);
	T_RUN(test_getopt_errors);
	T_RUN(test_help);
	T_RUN(test_diagnostics);
	T_RUN(test_rate);
	return t_finish();
}
