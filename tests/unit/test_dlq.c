/* Unit tests: dlq — dead letter headers read without trusting them, offset
 * sets, and the replay group's metadata (written, bounded, read back,
 * refused when it is not elog-dlq's). */
#include "t.h"
#include "dlq.h"

static void header(struct elog_record_view *v, const char *name, const char *value)
{
	v->headers[v->header_count++] = (struct elog_header){
		(const uint8_t *)name, (uint32_t)strlen(name), (const uint8_t *)value,
		value ? (int32_t)strlen(value) : -1};
}

static void test_headers(void)
{
	struct elog_record_view v;
	struct elog_dead_letter dl;
	char name[300];

	memset(&v, 0, sizeof(v));
	v.timestamp_ms = 1700000000000;
	header(&v, "trace", "x");
	header(&v, "elog.topic", "orders");
	header(&v, "elog.partition", "3");
	header(&v, "elog.offset", "42");
	header(&v, "elog.verdict", "exit 3");
	header(&v, "elog.last_failure", "1700000005000");
	header(&v, "elog.replay.count", "1");
	elog_dead_letter_read(&v, &dl);
	T_EQ_INT(dl.partition, 3);
	T_EQ_INT(dl.offset, 42);
	T_EQ_INT(dl.replay_count, 1);
	T_EQ_INT(dl.attempts, -1);
	T_ASSERT(dl.verdict.len == 6 && memcmp(dl.verdict.ptr, "exit 3", 6) == 0);
	T_EQ_INT(elog_dead_letter_time(&dl, &v), 1700000005000);
	T_EQ_INT(elog_dead_letter_topic(&dl, name, sizeof(name)), 1);
	T_CHECK(strcmp(name, "orders") == 0);

	/* Garbage: numbers that do not read are absent; a second count never lowers it. */
	memset(&v, 0, sizeof(v));
	v.timestamp_ms = 7;
	header(&v, "elog.partition", "3x");
	header(&v, "elog.offset", "-1");
	header(&v, "elog.last_failure", "");
	header(&v, "elog.replay.count", "5");
	header(&v, "elog.replay.count", "0");
	header(&v, "elog.topic", "bad name!");
	elog_dead_letter_read(&v, &dl);
	T_EQ_INT(dl.partition, -1);
	T_EQ_INT(dl.offset, -1);
	T_EQ_INT(dl.replay_count, 5);
	T_EQ_INT(elog_dead_letter_time(&dl, &v), 7);
	T_EQ_INT(elog_dead_letter_topic(&dl, name, sizeof(name)), -1);

	memset(&v, 0, sizeof(v));
	header(&v, "elog.partition", "4294967296");
	header(&v, "elog.replay.count", "2");
	header(&v, "elog.replay.count", "two");
	header(&v, "elog.replay.count", "9");
	header(&v, "elog.topic", NULL);
	elog_dead_letter_read(&v, &dl);
	T_EQ_INT(dl.partition, -1);
	T_EQ_INT(dl.replay_count, -1);
	T_EQ_INT(elog_dead_letter_topic(&dl, name, sizeof(name)), 0);

	memset(&v, 0, sizeof(v));
	header(&v, "elog.replay.count", "99999999999999999999");
	elog_dead_letter_read(&v, &dl);
	T_EQ_INT(dl.replay_count, -1);
}

static void test_group_name(void)
{
	char name[ELOG_DLQ_GROUP_MAX + 1], topic[250];
	struct elog_err err;

	T_OK(elog_dlq_group_name("orders.dlq", name, sizeof(name), &err), &err);
	T_CHECK(strcmp(name, "elog-dlq.orders.dlq") == 0);
	memset(topic, 'x', 249);
	topic[249] = '\0';
	T_CHECK(elog_dlq_group_name(topic, name, sizeof(name), &err) < 0);
	topic[246] = '\0';
	T_OK(elog_dlq_group_name(topic, name, sizeof(name), &err), &err);
	T_EQ_INT(strlen(name), 255);
}

static void test_offset_set(void)
{
	struct elog_offset_set s;
	struct elog_err err;

	elog_offset_set_init(&s);
	T_OK(elog_offset_set_add(&s, 10, 20, &err), &err);
	T_OK(elog_offset_set_add(&s, 30, 31, &err), &err);
	T_OK(elog_offset_set_add(&s, 25, 26, &err), &err);
	T_EQ_INT(s.n, 3);
	T_OK(elog_offset_set_add(&s, 20, 25, &err), &err);   /* adjacent both sides */
	T_EQ_INT(s.n, 2);
	T_EQ_INT(s.r[0].lo, 10);
	T_EQ_INT(s.r[0].hi, 26);
	T_EQ_INT(elog_offset_set_gap(&s, 10), 26);
	T_EQ_INT(elog_offset_set_gap(&s, 9), 9);
	T_EQ_INT(elog_offset_set_gap(&s, 30), 31);
	T_CHECK(elog_offset_set_has(&s, 10) && elog_offset_set_has(&s, 25) && !elog_offset_set_has(&s, 26));
	T_EQ_INT(elog_offset_set_count(&s, 0, 100), 17);
	T_EQ_INT(elog_offset_set_count(&s, 15, 31), 12);
	T_OK(elog_offset_set_remove(&s, 15, &err), &err);    /* split */
	T_EQ_INT(s.n, 3);
	T_CHECK(!elog_offset_set_has(&s, 15) && elog_offset_set_has(&s, 14) && elog_offset_set_has(&s, 16));
	T_OK(elog_offset_set_remove(&s, 30, &err), &err);    /* a range of one goes */
	T_OK(elog_offset_set_remove(&s, 99, &err), &err);    /* absent: nothing */
	T_EQ_INT(s.n, 2);
	T_OK(elog_offset_set_add(&s, 0, 100, &err), &err);   /* swallows all */
	T_EQ_INT(s.n, 1);
	T_EQ_INT(elog_offset_set_gap(&s, 0), 100);
	elog_offset_set_release(&s);
}

static void test_meta(void)
{
	struct elog_offset_set s, back;
	struct elog_err err;
	char text[ELOG_DLQ_META_MAX + 1];

	elog_offset_set_init(&s);
	elog_offset_set_init(&back);
	T_OK(elog_offset_set_add(&s, 0, 17, &err), &err);    /* before the position */
	T_OK(elog_offset_set_add(&s, 18, 41, &err), &err);
	T_OK(elog_offset_set_add(&s, 45, 46, &err), &err);
	T_OK(elog_offset_set_add(&s, 50, 53, &err), &err);
	T_EQ_INT(elog_offset_set_gap(&s, 0), 17);
	T_OK(elog_dlq_meta_format(&s, 17, text, sizeof(text), &err), &err);
	T_CHECK(strcmp(text, "elog-dlq decided=18-40,45,50-52") == 0);
	T_EQ_INT(elog_dlq_meta_len(&s, 17), strlen(text));
	T_OK(elog_dlq_meta_parse(text, &back, &err), &err);
	T_EQ_INT(back.n, 3);
	T_EQ_INT(elog_offset_set_count(&back, 0, 1000), 23 + 1 + 3);
	T_OK(elog_dlq_meta_format(&s, 100, text, sizeof(text), &err), &err);
	T_CHECK(strcmp(text, "elog-dlq decided=") == 0);
	/* Empty metadata: a position alone. Another key is skipped. */
	T_OK(elog_dlq_meta_parse("", &back, &err), &err);
	T_OK(elog_dlq_meta_parse("elog-dlq", &back, &err), &err);
	T_OK(elog_dlq_meta_parse("elog-dlq later=1 decided=200", &back, &err), &err);
	T_CHECK(elog_offset_set_has(&back, 200));
	/* Not elog-dlq's, or malformed: refused. */
	T_CHECK(elog_dlq_meta_parse("elog-proc member=x", &back, &err) < 0);
	T_CHECK(elog_dlq_meta_parse("elog-dlqx", &back, &err) < 0);
	T_CHECK(elog_dlq_meta_parse("elog-dlq decided=5,3", &back, &err) < 0);
	T_CHECK(elog_dlq_meta_parse("elog-dlq decided=5-3", &back, &err) < 0);
	T_CHECK(elog_dlq_meta_parse("elog-dlq decided=5,", &back, &err) < 0);
	T_CHECK(elog_dlq_meta_parse("elog-dlq decided=-5", &back, &err) < 0);
	T_CHECK(elog_dlq_meta_parse("elog-dlq decided=1234567890123456789", &back, &err) < 0);
	T_CHECK(elog_dlq_meta_parse("elog-dlq  decided=1", &back, &err) == 0);
	/* Bounded: many gaps need more than a commit's metadata may hold. */
	elog_offset_set_release(&s);
	elog_offset_set_init(&s);
	for (int64_t o = 1000000; o < 1000000 + 2 * 200; o += 2)
		T_OK(elog_offset_set_add(&s, o, o + 1, &err), &err);
	T_CHECK(elog_dlq_meta_len(&s, 0) > ELOG_DLQ_META_MAX);
	T_CHECK(elog_dlq_meta_format(&s, 0, text, sizeof(text), &err) < 0 && err.code == ELOG_E_LIMIT);
	elog_offset_set_release(&s);
	elog_offset_set_release(&back);
}

int main(void)
{
	T_RUN(test_headers);
	T_RUN(test_group_name);
	T_RUN(test_offset_set);
	T_RUN(test_meta);
	return t_finish();
}
