/* jsonw.c — JSON writer with a sticky error; see jsonw.h. */
#include <string.h>

#include "jsonw.h"

#define JW_ARRAY  1u   /* the container is an array (else an object) */
#define JW_ITEMS  2u   /* it has a member or element: the next needs "," */

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
	if (w->err != CS_OK && w->out->len > w->start) {
		w->out->len = w->start;
		w->out->data[w->start] = '\0';
	}
	return w->err;
}

void
cs_jsonw_put(struct cs_jsonw *w, const char *p, size_t n)
{
	if (w->err == CS_OK)
		w->err = cs_buf_append(w->out, p, n);
}

void
cs_jsonw_puts(struct cs_jsonw *w, const char *s)
{
	cs_jsonw_put(w, s, strlen(s));
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
		cs_jsonw_put(w, ",", 1);
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
	cs_jsonw_put(w, c, 1);
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
	cs_jsonw_put(w, c, 1);
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

/* "s" with s escaped. */
static void
quoted(struct cs_jsonw *w, const char *s, size_t n)
{
	cs_jsonw_put(w, "\"", 1);
	if (w->err == CS_OK)
		w->err = cs_buf_json_str(w->out, s, n);
	cs_jsonw_put(w, "\"", 1);
}

void
cs_jsonw_key(struct cs_jsonw *w, const char *key)
{
	if (w->err == CS_OK && (w->depth == 0 || w->after_key ||
	    (w->level[w->depth - 1] & JW_ARRAY))) {
		w->err = CS_EBADINPUT;
		return;
	}
	value(w);
	quoted(w, key, strlen(key));
	cs_jsonw_put(w, ":", 1);
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
	cs_jsonw_put(w, tmp + i, sizeof(tmp) - i);
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
	cs_jsonw_put(w, "null", 4);
}

void
cs_jsonw_raw(struct cs_jsonw *w, const char *json, size_t n)
{
	value(w);
	cs_jsonw_put(w, json, n);
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
