/*
 * Unit tests: partition — Kafka-compatible murmur2 and key -> partition.
 *
 * Vectors, all from public test suites that check against Kafka's own
 * org.apache.kafka.common.utils.Utils.murmur2 (values are Java ints):
 *   - Kafka: clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java,
 *     testMurmur2 ("21", "foobar", "a-little-bit-long-string", ...);
 *   - Akka (akka/akka): cluster-sharding-typed Murmur2Spec.scala, "expected
 *     correct hash values from the kafka murmur2 impl" ("1" .. "12345").
 * Together they cover every tail length (0-3 trailing bytes) and several
 * whole blocks. (kafkajs's "legacy" partitioner vectors are NOT used: that
 * partitioner is known not to match Java's — e.g. it hashes "1" to
 * 1311020360 where Kafka, and Akka's check against Kafka, give -1993445489.)
 */
#include "t.h"
#include "partition.h"

struct vector {
	const char *key;
	int32_t java_hash;
};

static const struct vector kafka_utils_test[] = {
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
};

static const struct vector akka[] = {
	{"1", -1993445489}, {"12", 126087238}, {"123", -267702483},
	{"1234", -1614185708}, {"12345", -1188365604},
};

static int check_vectors(const struct vector *v, size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t h = elog_murmur2(v[i].key, strlen(v[i].key));
		if ((int32_t)h != v[i].java_hash) {
			fprintf(stderr, "murmur2(\"%s\") = %" PRId32 ", Kafka says %" PRId32 "\n",
				v[i].key, (int32_t)h, v[i].java_hash);
			bad++;
		}
	}
	return bad;
}

static void test_kafka_utils_vectors(void)
{
	T_EQ_INT(check_vectors(kafka_utils_test, sizeof(kafka_utils_test) / sizeof(kafka_utils_test[0])), 0);
}

static void test_akka_vectors(void)
{
	T_EQ_INT(check_vectors(akka, sizeof(akka) / sizeof(akka[0])), 0);
}

/* Kafka's partition: Utils.toPositive(murmur2(key)) % n, toPositive = & 0x7fffffff. */
static void test_partition_is_kafka_formula(void)
{
	for (size_t i = 0; i < sizeof(kafka_utils_test) / sizeof(kafka_utils_test[0]); i++) {
		const struct vector *v = &kafka_utils_test[i];
		for (uint32_t n = 1; n <= 64; n++) {
			uint32_t want = ((uint32_t)v->java_hash & 0x7fffffffu) % n;
			T_EQ_INT(elog_partition_for_key(v->key, strlen(v->key), n), want);
		}
	}
	/* Worked examples: "foobar" -> -790332482 & 0x7fffffff = 1357151166. */
	T_EQ_INT(elog_partition_for_key("foobar", 6, 3), 1357151166u % 3);
	T_EQ_INT(elog_partition_for_key("foobar", 6, 1), 0);
}

static void test_empty_and_binary_keys(void)
{
	uint8_t bin[7] = {0xff, 0x80, 0x00, 0x7f, 0xfe, 0x81, 0x01};

	/* Empty key: h = seed ^ 0, no blocks, no tail, then the avalanche. */
	uint32_t h = 0x9747b28cu;
	h ^= h >> 13;
	h *= 0x5bd1e995u;
	h ^= h >> 15;
	T_EQ_INT(elog_murmur2("", 0), h);
	/* Bytes >= 0x80 in the tail must count as 0..255 (Kafka masks & 0xff). */
	T_CHECK(elog_murmur2(bin, 7) != elog_murmur2(bin, 6));
	for (uint32_t n = 1; n < 100; n++)
		T_CHECK(elog_partition_for_key(bin, sizeof(bin), n) < n);
}

static void test_spread(void)
{
	/* 10000 distinct keys over 8 partitions: each gets a fair share. */
	unsigned counts[8] = {0};
	char key[32];

	for (int i = 0; i < 10000; i++) {
		int len = snprintf(key, sizeof(key), "user-%d", i);
		counts[elog_partition_for_key(key, (size_t)len, 8)]++;
	}
	for (int p = 0; p < 8; p++)
		T_CHECK(counts[p] > 1000 && counts[p] < 1500);
}

int main(void)
{
	T_RUN(test_kafka_utils_vectors);
	T_RUN(test_akka_vectors);
	T_RUN(test_partition_is_kafka_formula);
	T_RUN(test_empty_and_binary_keys);
	T_RUN(test_spread);
	return t_finish();
}
