/* Unit tests: cluster — the --cluster list: parsing, order, every refusal. */
#include "cluster.h"
#include "t.h"

static void test_parse_sorted(void)
{
	struct elog_cluster_config c;
	struct elog_err err;
	char back[256];

	T_OK(elog_cluster_parse("3@h3.example:9003,1@127.0.0.1:9001,2@[::1]:9002", &c, &err), &err);
	T_EQ_INT(c.count, 3);
	T_EQ_INT(c.members[0].id, 1);
	T_EQ_INT(c.members[0].port, 9001);
	T_CHECK(strcmp(c.members[1].host, "::1") == 0);
	T_CHECK(strcmp(c.members[2].host, "h3.example") == 0);
	T_CHECK(elog_cluster_find(&c, 2) == &c.members[1]);
	T_CHECK(elog_cluster_find(&c, 4) == NULL);
	elog_cluster_format(&c, back, sizeof(back));
	T_CHECK(strcmp(back, "1@127.0.0.1:9001,2@[::1]:9002,3@h3.example:9003") == 0);
	T_OK(elog_cluster_check(&c, 2, 9002, &err), &err);
}

static void test_refusals(void)
{
	static const struct { const char *text, *why; } bad[] = {
		{"", "empty broker list"},
		{"1@h:1,1@h:2", "broker id 1 given twice"},
		{"1@h:1,,2@h:2", "empty entry"},
		{"x@h:1", "\"x@h:1\": bad broker id \"x\""},
		{"-1@h:1", "\"-1@h:1\": bad broker id \"-1\""},
		{"1@h:0", "\"1@h:0\": bad port \"0\""},
		{"1@h:70000", "\"1@h:70000\": bad port \"70000\""},
		{"1@:7", "\"1@:7\": bad host"},
		{"1@a b:7", "\"1@a b:7\": bad host"},
		{"1@h", "\"1@h\": expected ID@HOST:PORT"},
		{"1@h:1,2@h:2,3@h:3,4@h:4,5@h:5,6@h:6,7@h:7,8@h:8", "more than 7 brokers"},
	};
	struct elog_cluster_config c = {0};
	struct elog_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_ASSERT(elog_cluster_parse(bad[i].text, &c, &err) == -1);
		T_EQ_INT(err.code, ELOG_E_INVAL);
		if (strcmp(err.msg, bad[i].why) != 0) {
			fprintf(stderr, "# %s: got \"%s\"\n", bad[i].text, err.msg);
			T_CHECK(0);
		}
	}
	T_EQ_INT(c.count, 0); /* untouched */
}

static void test_check_self(void)
{
	struct elog_cluster_config c;
	struct elog_err err;

	T_OK(elog_cluster_parse("1@h:9001,2@h:9002", &c, &err), &err);
	T_ASSERT(elog_cluster_check(&c, 3, 9001, &err) == -1);
	T_CHECK(strcmp(err.msg, "broker id 3 is not in the cluster list") == 0);
	T_ASSERT(elog_cluster_check(&c, 1, 9002, &err) == -1);
	T_CHECK(strcmp(err.msg, "broker 1's cluster entry has port 9001, but it listens on port 9002") == 0);
	c.count = 0;
	T_OK(elog_cluster_check(&c, 3, 1, &err), &err); /* no cluster: nothing to check */
}

int main(void)
{
	T_RUN(test_parse_sorted);
	T_RUN(test_refusals);
	T_RUN(test_check_self);
	return t_finish();
}
