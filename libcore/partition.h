/*
 * partition — which partition a keyed record goes to.
 *
 * Kafka-compatible: the partition of a key is
 *
 *     (murmur2(key) & 0x7fffffff) % partitions
 *
 * where murmur2 is the 32-bit MurmurHash2 with seed 0x9747b28c exactly as
 * Kafka's org.apache.kafka.common.utils.Utils.murmur2 computes it (including
 * its treatment of the 1-3 trailing bytes as signed Java bytes being masked
 * back to 0..255), and the mask is Kafka's Utils.toPositive. So a key lands
 * on the same partition as with Kafka's default partitioner for the same
 * partition count. Test vectors (from Kafka's UtilsTest) are in
 * tests/unit/test_partition.c. Pure functions, no state.
 */
#ifndef ELOG_PARTITION_H
#define ELOG_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#define ELOG_MURMUR2_SEED 0x9747b28cu

/* Kafka's Utils.murmur2 as an unsigned 32-bit value (Kafka returns it as a
 * Java int: the same bits). */
uint32_t elog_murmur2(const void *key, size_t len);

/* (murmur2(key) & 0x7fffffff) % partitions; partitions must be > 0. */
uint32_t elog_partition_for_key(const void *key, size_t len, uint32_t partitions);

#endif
