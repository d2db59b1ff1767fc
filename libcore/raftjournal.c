/* raftjournal — every group's latest Raft state in one file; see raftjournal.h. */
#include "raftjournal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "bytes.h"
#include "crc32c.h"
#include "filesync.h"

static const uint8_t magic[4] = {'E', 'R', 'S', 'J'};

#define FIRST 1u
#define COPY1 2u
/* A record's fixed bytes: topic length, partition, incarnation, state length. */
#define RECORD_FIXED (2 + 4 + 8 + 2)
/* Largest topic name a record holds (names are far shorter: store.h). */
#define TOPIC_MAX 0xffffu

struct rec {
	struct rec *next;       /* in its bucket */
	uint32_t hash;
	uint32_t partition;
	int64_t incarnation;
	uint16_t topic_len, state_len;
	uint8_t *state;         /* one raft.state copy, encoded */
	char topic[];
};

struct elog_raftjournal {
	pthread_mutex_t mu;     /* the records */
	struct rec **buckets;
	uint32_t bucket_count, count;
	uint64_t live_bytes;    /* what a snapshot's payload would be */
	char dir[4096];
	char path[4200];
	int fd;
	uint64_t size;          /* bytes of good batches in the file */
	uint64_t batch;         /* the last batch number written or read */
	uint64_t compact_at;
	int broken;             /* a write failed: the tail is unknown, snapshot first */
	int stale;              /* a durable record is missing here (no memory): no snapshot */
};

/* ---------------------------------------------------------------- records */

static uint32_t key_hash(const struct elog_raftwire_group *id)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < id->topic_len; i++)
		h = (h ^ (uint8_t)id->topic[i]) * 16777619u;
	h = (h ^ id->partition) * 16777619u;
	h = (h ^ (uint32_t)id->incarnation) * 16777619u;
	return (h ^ (uint32_t)((uint64_t)id->incarnation >> 32)) * 16777619u;
}

static struct rec **rec_at(struct elog_raftjournal *j, const struct elog_raftwire_group *id,
			   uint32_t h)
{
	struct rec **at = &j->buckets[h & (j->bucket_count - 1)];

	for (; *at; at = &(*at)->next) {
		struct rec *r = *at;
		if (r->hash == h && r->partition == id->partition &&
		    r->incarnation == id->incarnation && r->topic_len == id->topic_len &&
		    memcmp(r->topic, id->topic, id->topic_len) == 0)
			break;
	}
	return at;
}

static size_t rec_bytes(size_t topic_len, size_t state_len)
{
	return RECORD_FIXED + topic_len + state_len;
}

static int grow(struct elog_raftjournal *j)
{
	uint32_t n = j->bucket_count ? j->bucket_count * 2 : 1024;
	struct rec **b = calloc(n, sizeof(*b));

	if (!b)
		return -1;
	for (uint32_t i = 0; i < j->bucket_count; i++) {
		struct rec *r = j->buckets[i], *next;
		for (; r; r = next) {
			next = r->next;
			r->next = b[r->hash & (n - 1)];
			b[r->hash & (n - 1)] = r;
		}
	}
	free(j->buckets);
	j->buckets = b;
	j->bucket_count = n;
	return 0;
}

/* Set id's record to the state bytes (under mu, or before any thread). */
static int rec_put(struct elog_raftjournal *j, const struct elog_raftwire_group *id,
		   const uint8_t *state, size_t len)
{
	uint32_t h = key_hash(id);
	struct rec **at, *r;
	uint8_t *copy;

	if (j->count >= j->bucket_count && grow(j) < 0)
		return -1;
	at = rec_at(j, id, h);
	r = *at;
	if (r && r->state_len == len) {
		memcpy(r->state, state, len);
		return 0;
	}
	if (!(copy = malloc(len)))
		return -1;
	memcpy(copy, state, len);
	if (r) {
		j->live_bytes -= rec_bytes(r->topic_len, r->state_len);
		free(r->state);
	} else {
		if (!(r = malloc(sizeof(*r) + id->topic_len + 1))) {
			free(copy);
			return -1;
		}
		r->hash = h;
		r->partition = id->partition;
		r->incarnation = id->incarnation;
		r->topic_len = (uint16_t)id->topic_len;
		memcpy(r->topic, id->topic, id->topic_len);
		r->topic[id->topic_len] = '\0';
		r->next = NULL;
		*at = r;
		j->count++;
	}
	r->state = copy;
	r->state_len = (uint16_t)len;
	j->live_bytes += rec_bytes(r->topic_len, len);
	return 0;
}

static void rec_drop(struct elog_raftjournal *j, struct rec **at)
{
	struct rec *r = *at;

	*at = r->next;
	j->live_bytes -= rec_bytes(r->topic_len, r->state_len);
	j->count--;
	free(r->state);
	free(r);
}

/* ---------------------------------------------------------------- batches */

/* Encode one batch (both copies) of the payload into out. */
static int batch_encode(struct elog_buf *out, uint16_t flags, uint64_t number, uint32_t records,
			const uint8_t *payload, size_t len)
{
	struct elog_err e;

	for (unsigned copy = 0; copy < 2; copy++) {
		uint8_t h[ELOG_RAFTJOURNAL_HEAD_BYTES];
		memcpy(h, magic, 4);
		elog_put16(h + 4, ELOG_RAFTJOURNAL_VERSION);
		elog_put16(h + 6, (uint16_t)(flags | (copy ? COPY1 : 0)));
		elog_put32(h + 8, records);
		elog_put32(h + 12, (uint32_t)len);
		elog_put64(h + 16, number);
		elog_put32(h + 24, elog_crc32c(elog_crc32c(0, h, 24), payload, len));
		if (elog_buf_add(out, h, sizeof(h), &e) < 0 || elog_buf_add(out, payload, len, &e) < 0)
			return -1;
	}
	return 0;
}

static void put_record(uint8_t *p, const struct elog_raftwire_group *id, const uint8_t *state,
		       size_t len)
{
	elog_put16(p, (uint16_t)id->topic_len);
	memcpy(p + 2, id->topic, id->topic_len);
	p += 2 + id->topic_len;
	elog_put32(p, id->partition);
	elog_put64(p + 4, (uint64_t)id->incarnation);
	elog_put16(p + 12, (uint16_t)len);
	memcpy(p + 14, state, len);
}

struct copy {
	uint16_t flags;
	uint32_t records;
	uint64_t number;
	const uint8_t *payload;
	size_t len;
};

/* Whether the bytes at p (n of them) begin a whole copy that checks. */
static int copy_decode(const uint8_t *p, size_t n, struct copy *c)
{
	size_t len;

	if (n < ELOG_RAFTJOURNAL_HEAD_BYTES || memcmp(p, magic, 4) != 0 ||
	    elog_get16(p + 4) != ELOG_RAFTJOURNAL_VERSION)
		return 0;
	len = elog_get32(p + 12);
	if (len > n - ELOG_RAFTJOURNAL_HEAD_BYTES)
		return 0;
	if (elog_crc32c(elog_crc32c(0, p, 24), p + ELOG_RAFTJOURNAL_HEAD_BYTES, len) !=
	    elog_get32(p + 24))
		return 0;
	c->flags = elog_get16(p + 6);
	c->records = elog_get32(p + 8);
	c->number = elog_get64(p + 16);
	c->payload = p + ELOG_RAFTJOURNAL_HEAD_BYTES;
	c->len = len;
	return 1;
}

/* The records of a good copy into the map. */
static int copy_apply(struct elog_raftjournal *j, const struct copy *c, struct elog_err *err)
{
	const uint8_t *p = c->payload, *end = c->payload + c->len;

	for (uint32_t i = 0; i < c->records; i++) {
		struct elog_raftwire_group id;
		size_t tl, sl;
		if (end - p < 2 || (size_t)(end - p) < RECORD_FIXED + (tl = elog_get16(p)))
			goto bad;
		id.topic = (const char *)p + 2;
		id.topic_len = tl;
		p += 2 + tl;
		id.partition = elog_get32(p);
		id.incarnation = (int64_t)elog_get64(p + 4);
		sl = elog_get16(p + 12);
		p += 14;
		if ((size_t)(end - p) < sl || id.incarnation < 0)
			goto bad;
		if (rec_put(j, &id, p, sl) < 0)
			return elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", j->path);
		p += sl;
	}
	if (p != end)
		goto bad;
	return 0;
bad:
	return elog_err_set(err, ELOG_E_CORRUPT,
			    "%s: batch %llu does not hold the records it counts "
			    "(written by a broken build?)",
			    j->path, (unsigned long long)c->number);
}

/* The next good copy at or past `from`, or len. */
static size_t next_good(const uint8_t *buf, size_t len, size_t from)
{
	struct copy c;

	while (from + ELOG_RAFTJOURNAL_HEAD_BYTES <= len) {
		const uint8_t *m = memmem(buf + from, len - from, magic, sizeof(magic));
		if (!m)
			break;
		from = (size_t)(m - buf);
		if (copy_decode(buf + from, len - from, &c))
			return from;
		from++;
	}
	return len;
}

/*
 * Bad bytes from `at` to the end, no good copy among them: a torn write
 * can only be the batch being written (the next number, or the twin of
 * the last taken; without one taken, the file's first). Another batch
 * whose two headers still read (magic, version, the same number) means
 * synced batches were damaged: not a tear. (One odd header alone may be
 * a flipped byte in a copy whose twin was taken.)
 */
#define TAIL_HEADERS_MAX 64
static int tail_torn(const uint8_t *buf, size_t len, size_t at, int taken, uint64_t last)
{
	uint64_t n[TAIL_HEADERS_MAX], low = UINT64_MAX;
	uint32_t count = 0;

	while (at + 24 <= len && count < TAIL_HEADERS_MAX) {
		const uint8_t *m = memmem(buf + at, len - at, magic, sizeof(magic));
		if (!m || (size_t)(m - buf) + 24 > len)
			break;
		at = (size_t)(m - buf);
		if (elog_get16(m + 4) == ELOG_RAFTJOURNAL_VERSION) {
			n[count] = elog_get64(m + 16);
			if (n[count] < low)
				low = n[count];
			count++;
		}
		at++;
	}
	for (uint32_t i = 0; i < count; i++) {
		if (taken ? n[i] == last || n[i] == last + 1 : n[i] == low)
			continue;
		for (uint32_t k = i + 1; k < count; k++)
			if (n[k] == n[i])
				return 0;
	}
	return 1;
}

/* Read the file's batches into the map; j->size is the end of the last
 * good copy (a torn tail past it is the caller's to cut). */
static int journal_read(struct elog_raftjournal *j, const uint8_t *buf, size_t len,
			struct elog_err *err)
{
	size_t at = 0;
	int taken = 0;

	while (at < len) {
		struct copy c;
		if (!copy_decode(buf + at, len - at, &c)) {
			size_t next = next_good(buf, len, at + 1);
			/* A newer build's batch (not this one's twin, whose version
			 * bytes a flip could have spoiled): refused, never cut. */
			if (next == len && len - at >= ELOG_RAFTJOURNAL_HEAD_BYTES &&
			    memcmp(buf + at, magic, 4) == 0 &&
			    elog_get16(buf + at + 4) > ELOG_RAFTJOURNAL_VERSION &&
			    (!taken || elog_get64(buf + at + 16) != j->batch))
				return elog_err_set(err, ELOG_E_VERSION,
						    "%s: version %u is newer than this build's %d",
						    j->path, elog_get16(buf + at + 4),
						    ELOG_RAFTJOURNAL_VERSION);
			if (next == len && !tail_torn(buf, len, at, taken, j->batch))
				return elog_err_set(err, ELOG_E_CORRUPT,
						    "%s: damaged: batches after %llu lost at byte %zu "
						    "(not a torn write: later headers remain)",
						    j->path, (unsigned long long)j->batch, at);
			if (next == len)
				break; /* a torn tail */
			at = next;
			continue; /* a damaged copy: its twin, or the check below, says */
		}
		if (!taken) {
			if (!(c.flags & FIRST))
				return elog_err_set(err, ELOG_E_CORRUPT,
						    "%s: damaged: its first batch is lost", j->path);
		} else if (c.number == j->batch) {
			at += ELOG_RAFTJOURNAL_HEAD_BYTES + c.len; /* the other copy */
			j->size = at;
			continue;
		} else if (c.number != j->batch + 1) {
			return elog_err_set(err, ELOG_E_CORRUPT,
					    "%s: damaged: batch %llu lost (both copies) at byte %zu",
					    j->path, (unsigned long long)j->batch + 1, at);
		}
		if (copy_apply(j, &c, err) < 0)
			return -1;
		taken = 1;
		j->batch = c.number;
		at += ELOG_RAFTJOURNAL_HEAD_BYTES + c.len;
		j->size = at;
	}
	return 0;
}

static int read_all(int fd, const char *path, uint8_t **out, size_t *len, struct elog_err *err)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;

	if (fstat(fd, &st) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot stat", path);
	if (!(buf = malloc((size_t)st.st_size + 1)))
		return elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", path);
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot read", path);
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*out = buf;
	*len = got;
	return 0;
}

static void compact_after(struct elog_raftjournal *j)
{
	uint64_t at = 4 * (j->live_bytes + 2 * ELOG_RAFTJOURNAL_HEAD_BYTES);

	j->compact_at = at > ELOG_RAFTJOURNAL_COMPACT_MIN ? at : ELOG_RAFTJOURNAL_COMPACT_MIN;
}

int elog_raftjournal_open(const char *dir, struct elog_raftjournal **out, int *missing,
			  struct elog_err *err)
{
	struct elog_raftjournal *j = calloc(1, sizeof(*j));
	uint8_t *buf = NULL;
	size_t len = 0;

	*out = NULL;
	*missing = 0;
	if (!j)
		return elog_err_set(err, ELOG_E_NOMEM, "raft journal: out of memory");
	pthread_mutex_init(&j->mu, NULL);
	j->fd = -1;
	if (snprintf(j->dir, sizeof(j->dir), "%s", dir) >= (int)sizeof(j->dir)) {
		elog_err_set(err, ELOG_E_INVAL, "%s: path too long", dir);
		goto fail;
	}
	snprintf(j->path, sizeof(j->path), "%s/%s", dir, ELOG_RAFTJOURNAL_NAME);
	if (grow(j) < 0) {
		elog_err_set(err, ELOG_E_NOMEM, "raft journal: out of memory");
		goto fail;
	}
	j->fd = open(j->path, O_RDWR | O_CLOEXEC);
	if (j->fd < 0 && errno == ENOENT) {
		/* Made by the first write, not here: a broker that refuses to
		 * start because the journal is missing must find it missing
		 * again at its next try. */
		*missing = 1;
		compact_after(j);
		*out = j;
		return 0;
	}
	if (j->fd < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", j->path);
		goto fail;
	}
	if (read_all(j->fd, j->path, &buf, &len, err) < 0 || journal_read(j, buf, len, err) < 0)
		goto fail;
	free(buf);
	buf = NULL;
	if (j->size < len) {
		/* A torn tail: the batch being written when the broker stopped,
		 * never synced, so nothing was sent that depended on it. */
		if (ftruncate(j->fd, (off_t)j->size) < 0 || fdatasync(j->fd) < 0) {
			elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot cut its torn tail", j->path);
			goto fail;
		}
	}
	compact_after(j);
	*out = j;
	return 0;
fail:
	free(buf);
	elog_raftjournal_close(j);
	return -1;
}

void elog_raftjournal_close(struct elog_raftjournal *j)
{
	if (!j)
		return;
	for (uint32_t i = 0; i < j->bucket_count; i++)
		while (j->buckets[i])
			rec_drop(j, &j->buckets[i]);
	free(j->buckets);
	if (j->fd >= 0)
		close(j->fd);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

int elog_raftjournal_find(struct elog_raftjournal *j, const struct elog_raftwire_group *id,
			  struct elog_raftstate *s, int *found, struct elog_err *err)
{
	struct rec *r;
	int rc = 0;

	*found = 0;
	elog_raftstate_init(s);
	pthread_mutex_lock(&j->mu);
	r = *rec_at(j, id, key_hash(id));
	if (r) {
		rc = elog_raftstate_decode(r->state, r->state_len, s, err);
		if (rc < 0)
			elog_err_prefix(err, "%s: the record of %s/%u", j->path, r->topic,
					r->partition);
		else
			*found = 1;
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

void elog_raftjournal_each(struct elog_raftjournal *j,
			   void (*cb)(void *ctx, const struct elog_raftwire_group *id,
				      const uint8_t *state, size_t len),
			   void *ctx)
{
	pthread_mutex_lock(&j->mu);
	for (uint32_t i = 0; i < j->bucket_count; i++)
		for (struct rec *r = j->buckets[i]; r; r = r->next) {
			struct elog_raftwire_group id = {r->topic, r->topic_len, r->partition,
							 r->incarnation};
			cb(ctx, &id, r->state, r->state_len);
		}
	pthread_mutex_unlock(&j->mu);
}

void elog_raftjournal_forget(struct elog_raftjournal *j, const struct elog_raftwire_group *id)
{
	struct rec **at;

	pthread_mutex_lock(&j->mu);
	at = rec_at(j, id, key_hash(id));
	if (*at)
		rec_drop(j, at);
	pthread_mutex_unlock(&j->mu);
}

uint32_t elog_raftjournal_forget_if(struct elog_raftjournal *j,
				    int (*drop)(void *ctx, const struct elog_raftwire_group *id),
				    void *ctx)
{
	uint32_t n = 0;

	pthread_mutex_lock(&j->mu);
	for (uint32_t i = 0; i < j->bucket_count; i++) {
		struct rec **at = &j->buckets[i];
		while (*at) {
			struct rec *r = *at;
			struct elog_raftwire_group id = {r->topic, r->topic_len, r->partition,
							 r->incarnation};
			if (drop(ctx, &id)) {
				rec_drop(j, at);
				n++;
			} else {
				at = &r->next;
			}
		}
	}
	pthread_mutex_unlock(&j->mu);
	return n;
}

uint64_t elog_raftjournal_size(struct elog_raftjournal *j)
{
	return j->size;
}

uint32_t elog_raftjournal_count(struct elog_raftjournal *j)
{
	uint32_t n;

	pthread_mutex_lock(&j->mu);
	n = j->count;
	pthread_mutex_unlock(&j->mu);
	return n;
}

/* ---------------------------------------------------------------- writing */

static int write_all(int fd, const uint8_t *p, size_t len, off_t at)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		at += n;
	}
	return 0;
}

static int io_err(struct elog_err *err, int e, const char *what, const char *path)
{
	return elog_err_errno(err, e == ENOSPC ? ELOG_E_NOSPACE : ELOG_E_IO, e, "%s: cannot %s",
			      path, what);
}

int elog_raftjournal_compact(struct elog_raftjournal *j, struct elog_err *err)
{
	struct elog_buf payload, out;
	uint32_t records = 0;
	int fd, rc = -1;

	if (j->stale)
		return elog_err_set(err, ELOG_E_NOMEM,
				    "%s: a record was lost to a lack of memory: no snapshot until a restart",
				    j->path);
	elog_buf_init(&payload, SIZE_MAX);
	elog_buf_init(&out, SIZE_MAX);
	pthread_mutex_lock(&j->mu);
	if (elog_buf_reserve(&payload, j->live_bytes, err) < 0) {
		pthread_mutex_unlock(&j->mu);
		goto done;
	}
	for (uint32_t i = 0; i < j->bucket_count; i++)
		for (struct rec *r = j->buckets[i]; r; r = r->next) {
			struct elog_raftwire_group id = {r->topic, r->topic_len, r->partition,
							 r->incarnation};
			put_record(payload.data + payload.len, &id, r->state, r->state_len);
			payload.len += rec_bytes(r->topic_len, r->state_len);
			records++;
		}
	pthread_mutex_unlock(&j->mu);
	/* The snapshot, then an empty batch: the snapshot is never the file's
	 * last batch, so losing both its copies is refused, not cut as torn. */
	if (batch_encode(&out, FIRST, j->batch + 1, records, payload.data, payload.len) < 0 ||
	    batch_encode(&out, 0, j->batch + 2, 0, payload.data, 0) < 0) {
		elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", j->path);
		goto done;
	}
	if (elog_file_replace(j->dir, ELOG_RAFTJOURNAL_NAME, out.data, out.len, err) < 0) {
		struct stat st;
		/* Failed after the rename (the directory's sync): the fd held
		 * names a file no longer in the directory, and what it took would
		 * be lost. The next append makes the snapshot again first. */
		if (j->fd < 0 || fstat(j->fd, &st) < 0 || st.st_nlink == 0)
			j->broken = 1;
		goto done;
	}
	/* The new file is in place: from now on it is the one written. */
	fd = open(j->path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		io_err(err, errno, "open", j->path);
		j->broken = 1;
		goto done;
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	j->size = out.len;
	j->batch += 2;
	j->broken = 0;
	compact_after(j);
	rc = 0;
done:
	elog_buf_release(&payload);
	elog_buf_release(&out);
	return rc;
}

int elog_raftjournal_make(struct elog_raftjournal *j, struct elog_err *err)
{
	if (j->fd >= 0)
		return 0;
	j->fd = open(j->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (j->fd < 0)
		return io_err(err, errno, "create", j->path);
	if ((ftruncate(j->fd, 0) < 0 && io_err(err, errno, "create", j->path)) ||
	    elog_dir_sync(j->dir, err) < 0) {
		close(j->fd);
		j->fd = -1;
		return -1;
	}
	j->size = 0;
	return 0;
}

int elog_raftjournal_append(struct elog_raftjournal *j, const struct elog_raftjournal_entry *e,
			    uint32_t n, struct elog_err *err)
{
	struct elog_buf payload, out;
	uint8_t state[ELOG_RAFTSTATE_BYTES_MAX];
	int rc = -1;

	if (j->broken && elog_raftjournal_compact(j, err) < 0)
		return -1;
	if (elog_raftjournal_make(j, err) < 0)
		return -1;
	elog_buf_init(&payload, SIZE_MAX);
	elog_buf_init(&out, SIZE_MAX);
	for (uint32_t i = 0; i < n; i++) {
		size_t sl = elog_raftstate_encode(e[i].s, state, sizeof(state));
		size_t need = rec_bytes(e[i].id->topic_len, sl);
		if (e[i].id->topic_len > TOPIC_MAX) {
			elog_err_set(err, ELOG_E_INVAL, "%s: topic name too long", j->path);
			goto done;
		}
		if (elog_buf_reserve(&payload, need, err) < 0)
			goto nomem;
		put_record(payload.data + payload.len, e[i].id, state, sl);
		payload.len += need;
	}
	if (payload.len > UINT32_MAX) {
		elog_err_set(err, ELOG_E_INVAL, "%s: batch of %zu bytes too large", j->path,
			     payload.len);
		goto done;
	}
	if (batch_encode(&out, j->size == 0 ? FIRST : 0, j->batch + 1, n, payload.data,
			 payload.len) < 0)
		goto nomem;
	if (write_all(j->fd, out.data, out.len, (off_t)j->size) < 0) {
		io_err(err, errno, "write", j->path);
		j->broken = 1;
		goto done;
	}
	if (fdatasync(j->fd) < 0) {
		io_err(err, errno, "sync", j->path);
		j->broken = 1;
		goto done;
	}
	j->size += out.len;
	j->batch++;
	/* Durable: the records as written, read back from the payload as the
	 * open reads a batch (nothing encoded twice). */
	pthread_mutex_lock(&j->mu);
	if (copy_apply(j, &(struct copy){0, n, j->batch, payload.data, payload.len}, err) < 0) {
		/* Without its record the next snapshot would drop a group's
		 * state: write no snapshot until the file is read again. */
		j->stale = 1;
		pthread_mutex_unlock(&j->mu);
		goto done;
	}
	pthread_mutex_unlock(&j->mu);
	rc = 0;
	if (j->size > j->compact_at) {
		struct elog_err ignored;
		/* The batch is durable already; a snapshot that fails is tried
		 * again when the file has doubled. */
		if (elog_raftjournal_compact(j, &ignored) < 0 && !j->broken)
			j->compact_at = j->size * 2;
	}
	goto done;
nomem:
	elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", j->path);
done:
	elog_buf_release(&payload);
	elog_buf_release(&out);
	return rc;
}
