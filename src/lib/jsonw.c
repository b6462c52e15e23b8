/* jsonw.c — JSON writer with a sticky error; see jsonw.h. */
#include <string.h>

#include "jsonw.h"

#define JW_ARRAY 1u /* the container is an array (else an object) */
#define JW_ITEMS 2u /* it has a member or element: the next needs "," */

void
cs_jsonw_init(struct cs_jsonw *w, struct cs_buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->start = out->len;
	w->err = CS_OK;
}

enum cs_err
cs_jsonw_end(struct cs_jsonw *w)
{
	if (w->err == CS_OK && (w->depth != 0 || w->after_key))
		w->err = CS_EBADINPUT;
	if (w->err != CS_OK)
		cs_buf_cut(w->out, w->start);
	return w->err;
}

/* Small appends are most of what the writer does: into the room the
 * buffer has, without the call; cs_buf_append when it must grow. */
static inline void
put(struct cs_jsonw *w, const char *p, size_t n)
{
	struct cs_buf *b = w->out;

	if (w->err != CS_OK)
		return;
	if (b->data == NULL || n >= b->cap - b->len || n > b->max - b->len) {
		w->err = cs_buf_append(b, p, n);
		return;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
cs_jsonw_put(struct cs_jsonw *w, const char *p, size_t n)
{
	put(w, p, n);
}

void
cs_jsonw_puts(struct cs_jsonw *w, const char *s)
{
	put(w, s, strlen(s));
}

/* Before a value: the comma it needs, if any. */
static void
value(struct cs_jsonw *w)
{
	unsigned char *lv;

	if (w->after_key) {
		w->after_key = 0;
		return;
	}
	if (w->depth == 0)
		return;
	lv = &w->level[w->depth - 1];
	if (*lv & JW_ITEMS)
		put(w, ",", 1);
	*lv |= JW_ITEMS;
}

static void
push(struct cs_jsonw *w, unsigned char kind, const char *c)
{
	value(w);
	if (w->err != CS_OK)
		return;
	if (w->depth == CS_JSONW_DEPTH) {
		w->err = CS_ETOOBIG;
		return;
	}
	w->level[w->depth++] = kind;
	put(w, c, 1);
}

static void
pop(struct cs_jsonw *w, unsigned char kind, const char *c)
{
	if (w->err != CS_OK)
		return;
	if (w->depth == 0 || w->after_key ||
	    (w->level[w->depth - 1] & JW_ARRAY) != kind) {
		w->err = CS_EBADINPUT;
		return;
	}
	w->depth--;
	put(w, c, 1);
}

void
cs_jsonw_obj(struct cs_jsonw *w)
{
	push(w, 0, "{");
}

void
cs_jsonw_obj_end(struct cs_jsonw *w)
{
	pop(w, 0, "}");
}

void
cs_jsonw_arr(struct cs_jsonw *w)
{
	push(w, JW_ARRAY, "[");
}

void
cs_jsonw_arr_end(struct cs_jsonw *w)
{
	pop(w, JW_ARRAY, "]");
}

/*
 * What a byte becomes inside a JSON string: 0 as is; 'u' as \u00XX;
 * otherwise the letter after the backslash: ", \, \n, \r and \t have
 * short forms, the other controls (\b and \f too) and DEL the long one;
 * everything else (UTF-8, U+2028/U+2029 included, and '/') as is.
 */
static const unsigned char esc[256] = {
	['"'] = '"',
	['\\'] = '\\',
	['\n'] = 'n',
	['\r'] = 'r',
	['\t'] = 't',
	[0x00] = 'u',
	[0x01] = 'u',
	[0x02] = 'u',
	[0x03] = 'u',
	[0x04] = 'u',
	[0x05] = 'u',
	[0x06] = 'u',
	[0x07] = 'u',
	[0x08] = 'u',
	[0x0b] = 'u',
	[0x0c] = 'u',
	[0x0e] = 'u',
	[0x0f] = 'u',
	[0x10] = 'u',
	[0x11] = 'u',
	[0x12] = 'u',
	[0x13] = 'u',
	[0x14] = 'u',
	[0x15] = 'u',
	[0x16] = 'u',
	[0x17] = 'u',
	[0x18] = 'u',
	[0x19] = 'u',
	[0x1a] = 'u',
	[0x1b] = 'u',
	[0x1c] = 'u',
	[0x1d] = 'u',
	[0x1e] = 'u',
	[0x1f] = 'u',
	[0x7f] = 'u',
};

/* "s" with s escaped: each run of plain bytes in one copy. */
static void
quoted(struct cs_jsonw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run;
	unsigned char c;
	char e[6] = { '\\', 'u', '0', '0' };

	put(w, "\"", 1);
	while (i < n) {
		for (run = i; i < n && esc[(unsigned char)s[i]] == 0; i++)
			;
		put(w, s + run, i - run);
		if (i == n)
			break;
		c = (unsigned char)s[i++];
		if (esc[c] == 'u') {
			e[1] = 'u';
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			put(w, e, 6);
		} else {
			e[1] = (char)esc[c];
			put(w, e, 2);
		}
	}
	put(w, "\"", 1);
}

void
cs_jsonw_key(struct cs_jsonw *w, const char *key)
{
	if (w->err == CS_OK &&
	    (w->depth == 0 || w->after_key ||
	        (w->level[w->depth - 1] & JW_ARRAY))) {
		w->err = CS_EBADINPUT;
		return;
	}
	value(w);
	put(w, "\"", 1);
	put(w, key, strlen(key));
	put(w, "\":", 2);
	w->after_key = 1;
}

void
cs_jsonw_strn(struct cs_jsonw *w, const char *s, size_t n)
{
	value(w);
	quoted(w, s, n);
}

void
cs_jsonw_str(struct cs_jsonw *w, const char *s)
{
	if (s == NULL)
		s = "";
	cs_jsonw_strn(w, s, strlen(s));
}

/* Decimal without printf: this runs for every streamed chunk. */
void
cs_jsonw_int(struct cs_jsonw *w, long long v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	unsigned long long u;

	u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		tmp[--i] = '-';
	value(w);
	put(w, tmp + i, sizeof(tmp) - i);
}

void
cs_jsonw_bool(struct cs_jsonw *w, int v)
{
	value(w);
	cs_jsonw_puts(w, v ? "true" : "false");
}

void
cs_jsonw_null(struct cs_jsonw *w)
{
	value(w);
	put(w, "null", 4);
}

void
cs_jsonw_raw(struct cs_jsonw *w, const char *json, size_t n)
{
	value(w);
	put(w, json, n);
}

void
cs_jsonw_kstr(struct cs_jsonw *w, const char *key, const char *s)
{
	cs_jsonw_key(w, key);
	cs_jsonw_str(w, s);
}

void
cs_jsonw_kint(struct cs_jsonw *w, const char *key, long long v)
{
	cs_jsonw_key(w, key);
	cs_jsonw_int(w, v);
}
