/* testutil.h — shared helpers for the cmocka unit tests. */
#ifndef CS_TESTUTIL_H
#define CS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

/*
 * Read a whole file (fixtures are small).  Returns malloc'd, NUL-terminated
 * bytes and their length in *len (may be NULL), or fails the test.  Reads
 * to EOF rather than trusting a size, so it works on any file.
 */
static inline char *
tu_read_file(const char *path, size_t *len)
{
	FILE *f;
	char *buf = NULL, *nb;
	size_t cap = 0, used = 0, n;

	if (len != NULL)
		*len = 0;
	if ((f = fopen(path, "rb")) == NULL) {
		fail_msg("cannot open %s", path);
		return NULL; /* not reached; cmocka's fail is not noreturn */
	}
	do {
		if (cap - used < 4096) {
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			assert_non_null(nb);
			buf = nb;
		}
		n = fread(buf + used, 1, cap - used, f);
		used += n;
	} while (n > 0);
	assert_false(ferror(f));
	fclose(f);
	buf[used] = '\0';
	if (len != NULL)
		*len = used;
	return buf;
}

#endif
