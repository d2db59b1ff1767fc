/*
 * format — kcat-style -f FORMAT and the tools' output modes; see format.h.
 */
#include <assert.h>
#include <string.h>

#include "cli.h"
#include "envelope.h"
#include "format.h"

/* ---------------------------------------------------------------- compile */

static enum elog_format_field token_field(char c)
{
	switch (c) {
	case 't': return ELOG_FORMAT_TOPIC;
	case 'p': return ELOG_FORMAT_PARTITION;
	case 'o': return ELOG_FORMAT_OFFSET;
	case 'k': return ELOG_FORMAT_KEY;
	case 'K': return ELOG_FORMAT_KEY_LENGTH;
	case 's': return ELOG_FORMAT_VALUE;
	case 'S': return ELOG_FORMAT_VALUE_LENGTH;
	case 'R': return ELOG_FORMAT_VALUE_LENGTH_BE32;
	case 'h': return ELOG_FORMAT_HEADERS;
	case 'T': return ELOG_FORMAT_TIMESTAMP;
	case 'D': return ELOG_FORMAT_DATE;
	default: return ELOG_FORMAT_LITERAL;
	}
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The byte the escape at text[*i] (just after the backslash) stands for,
 * with *i moved to its last character; -1 if it is not one: \n \r \t \\,
 * \xHH (two hex digits), \NNN (one to three octal digits, at most \377;
 * \0 is a NUL).
 */
static int escape_byte(const char *text, size_t *i)
{
	const char *p = text + *i;
	int v, n;

	switch (*p) {
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case '\\': return '\\';
	case 'x':
		if (hex_digit(p[1]) < 0 || hex_digit(p[2]) < 0)
			return -1;
		*i += 2;
		return hex_digit(p[1]) * 16 + hex_digit(p[2]);
	}
	for (v = 0, n = 0; n < 3 && p[n] >= '0' && p[n] <= '7'; n++)
		v = v * 8 + (p[n] - '0');
	if (n == 0 || v > 255)
		return -1;
	*i += (size_t)n - 1;
	return v;
}

/* Start a new item unless the last one can be extended (literals merge). */
static int add_item(struct elog_format *f, enum elog_format_field field, struct elog_err *err)
{
	struct elog_format_item *last = f->item_count ? &f->items[f->item_count - 1] : NULL;

	if (field == ELOG_FORMAT_LITERAL && last && last->field == ELOG_FORMAT_LITERAL)
		return 0;
	if (f->item_count == ELOG_FORMAT_ITEMS_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "more than %d tokens", ELOG_FORMAT_ITEMS_MAX);
	f->items[f->item_count++] = (struct elog_format_item){
		.field = field, .literal_start = (uint32_t)f->literal_len, .literal_len = 0,
	};
	return 0;
}

static int add_literal_byte(struct elog_format *f, char c, struct elog_err *err)
{
	if (add_item(f, ELOG_FORMAT_LITERAL, err) < 0)
		return -1;
	assert(f->literal_len < sizeof(f->literal));
	f->literal[f->literal_len++] = c;
	f->items[f->item_count - 1].literal_len++;
	return 0;
}

/* Quote a character for a message: printable as is, else \xHH. */
static const char *show_char(char c, char buf[8])
{
	unsigned char u = (unsigned char)c;

	if (u > 0x20 && u < 0x7f) {
		buf[0] = c;
		buf[1] = '\0';
	} else {
		static const char hex[] = "0123456789abcdef";
		buf[0] = '\\';
		buf[1] = 'x';
		buf[2] = hex[u >> 4];
		buf[3] = hex[u & 15];
		buf[4] = '\0';
	}
	return buf;
}

int elog_format_compile(struct elog_format *f, const char *text, struct elog_err *err)
{
	size_t len;
	char shown[8];

	assert(f && text);
	f->item_count = 0;
	f->literal_len = 0;
	len = strlen(text);
	if (len > ELOG_FORMAT_TEXT_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "format longer than %d bytes",
				    ELOG_FORMAT_TEXT_MAX);
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		int rc;

		if (c == '%') {
			if (i + 1 == len)
				return elog_err_set(err, ELOG_E_INVAL, "lone %% at the end");
			c = text[++i];
			if (c == '%') {
				rc = add_literal_byte(f, '%', err);
			} else if (token_field(c) != ELOG_FORMAT_LITERAL) {
				rc = add_item(f, token_field(c), err);
			} else {
				return elog_err_set(err, ELOG_E_INVAL,
						    "unknown token %%%s at character %zu",
						    show_char(c, shown), i);
			}
		} else if (c == '\\') {
			if (i + 1 == len)
				return elog_err_set(err, ELOG_E_INVAL, "lone \\ at the end");
			size_t at = ++i;
			int b = escape_byte(text, &i);
			if (b < 0)
				return elog_err_set(err, ELOG_E_INVAL,
						    "unknown escape \\%s at character %zu",
						    show_char(text[at], shown), at);
			rc = add_literal_byte(f, (char)b, err);
		} else {
			rc = add_literal_byte(f, c, err);
		}
		if (rc < 0)
			return -1;
	}
	assert(f->literal_len <= len && f->item_count <= len);
	return 0;
}

/* ---------------------------------------------------------------- render */

/* Decimal text of v at the end of buf[0..24); returns where it starts. */
static char *format_int64(int64_t v, char buf[24])
{
	char *p = buf + 24;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return p;
}

static int add_int64(struct elog_buf *out, int64_t v, struct elog_err *err)
{
	char buf[24], *p = format_int64(v, buf);

	return elog_buf_add(out, p, (size_t)(buf + 24 - p), err);
}

static int add_bytes(struct elog_buf *out, const uint8_t *p, int64_t len, struct elog_err *err)
{
	if (len <= 0)
		return 0;
	return elog_buf_add(out, p, (size_t)len, err);
}

static int add_headers(struct elog_buf *out, const struct elog_record_view *rec,
		       struct elog_err *err)
{
	for (uint32_t i = 0; i < rec->header_count; i++) {
		const struct elog_header *h = &rec->headers[i];

		if ((i > 0 && elog_buf_add(out, ",", 1, err) < 0) ||
		    add_bytes(out, h->name, h->name_len, err) < 0)
			return -1;
		if (h->value_len < 0)
			continue;
		if (elog_buf_add(out, "=", 1, err) < 0 ||
		    add_bytes(out, h->value, h->value_len, err) < 0)
			return -1;
	}
	return 0;
}

static int render_item(const struct elog_format *f, const struct elog_format_item *item,
		       struct elog_buf *out, const char *topic, size_t topic_len,
		       uint32_t partition, const struct elog_record_view *rec, struct elog_err *err)
{
	char date[ELOG_CLI_TIMESTAMP_MAX];

	switch (item->field) {
	case ELOG_FORMAT_LITERAL:
		return elog_buf_add(out, f->literal + item->literal_start, item->literal_len, err);
	case ELOG_FORMAT_TOPIC:
		return elog_buf_add(out, topic, topic_len, err);
	case ELOG_FORMAT_PARTITION:
		return add_int64(out, partition, err);
	case ELOG_FORMAT_OFFSET:
		return add_int64(out, rec->offset, err);
	case ELOG_FORMAT_KEY:
		return add_bytes(out, rec->key, rec->key_len, err);
	case ELOG_FORMAT_KEY_LENGTH:
		return add_int64(out, rec->key_len, err);
	case ELOG_FORMAT_VALUE:
		return add_bytes(out, rec->value, rec->value_len, err);
	case ELOG_FORMAT_VALUE_LENGTH:
		return add_int64(out, rec->value_len, err);
	case ELOG_FORMAT_VALUE_LENGTH_BE32: {
		uint8_t be[4];
		uint32_t u = (uint32_t)rec->value_len;  /* -1: ff ff ff ff */
		be[0] = (uint8_t)(u >> 24);
		be[1] = (uint8_t)(u >> 16);
		be[2] = (uint8_t)(u >> 8);
		be[3] = (uint8_t)u;
		return elog_buf_add(out, be, sizeof(be), err);
	}
	case ELOG_FORMAT_HEADERS:
		return add_headers(out, rec, err);
	case ELOG_FORMAT_TIMESTAMP:
		return add_int64(out, rec->timestamp_ms, err);
	case ELOG_FORMAT_DATE:
		elog_cli_format_timestamp(rec->timestamp_ms, date, sizeof(date));
		return elog_buf_add(out, date, strlen(date), err);
	}
	assert(0 && "unknown format field");
	return -1;
}

int elog_format_render(const struct elog_format *f, struct elog_buf *out, const char *topic,
		       size_t topic_len, uint32_t partition, const struct elog_record_view *rec,
		       struct elog_err *err)
{
	size_t start;

	assert(f && out && (topic || topic_len == 0) && rec);
	assert(f->item_count <= ELOG_FORMAT_ITEMS_MAX);
	start = out->len;
	for (size_t i = 0; i < f->item_count; i++) {
		if (render_item(f, &f->items[i], out, topic, topic_len, partition, rec, err) < 0) {
			out->len = start;
			return -1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- output modes */

int elog_output_render(enum elog_output_mode mode, const struct elog_format *f,
		       struct elog_buf *out, const char *topic, size_t topic_len,
		       uint32_t partition, const struct elog_record_view *r,
		       struct elog_err *err)
{
	size_t value_len = r->value_len > 0 ? (size_t)r->value_len : 0;

	switch (mode) {
	case ELOG_OUTPUT_VALUE:
		if (elog_buf_reserve(out, value_len + 1, err) < 0)
			return -1;
		if (value_len)
			memcpy(out->data + out->len, r->value, value_len);
		out->len += value_len;
		out->data[out->len++] = '\n';
		return 0;
	case ELOG_OUTPUT_JSON:
		return elog_envelope_encode(out, topic, topic_len, partition, r, err);
	case ELOG_OUTPUT_FORMAT:
		return elog_format_render(f, out, topic, topic_len, partition, r, err);
	}
	return elog_err_set(err, ELOG_E_INVAL, "unknown output mode");
}
