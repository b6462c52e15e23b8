/*
 * usage_cli.h — `chatstream usage`: who spent what, from the usage
 * ledger (state.h) of the configured store, as a plain-text table.
 *
 *   chatstream usage [--config FILE] [--since DURATION]
 *                    [--by day|model|identity|key]
 *
 * The store is the server's: `state` of FILE (else $CHATSTREAM_CONFIG),
 * by default sqlite beside that file.  DURATION is N followed by d, h or
 * m (at most CS_USAGE_SINCE_MAX_DAYS days), default 7d; --by defaults to
 * day.  One row per group (day ascending; the others by total tokens,
 * most first), then the total.  Exit 0; 2 with one line on stderr for a
 * bad option or a store that cannot be read.
 *
 * The parsing and the table are separate functions so that tests feed
 * them directly.  Ownership: a struct cs_usage_table is the caller's
 * (zeroed to start, cs_usage_table_free() to end); its rows and their
 * strings are copies.  Every string passed in is borrowed for the call.
 */
#ifndef CS_USAGE_CLI_H
#define CS_USAGE_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "state.h"

#define CS_USAGE_SINCE_MAX_DAYS 3650     /* --since, at most */
#define CS_USAGE_SINCE_DEFAULT  "7d"     /* --since, unset */
#define CS_USAGE_MAX_ROWS       1000000L /* groups a table takes */

/* What the command line asks for. */
struct cs_usage_opts {
	const char *config; /* FILE, or NULL (then $CHATSTREAM_CONFIG) */
	const char *since;  /* as written, for the caption */
	long long since_ms; /* the duration, in ms */
	const char *by;     /* "day", "model", "identity" or "key" */
};

/*
 * The duration s ("7d", "12h", "30m": digits, then one unit) into *ms.
 * 0, or -1 when it is not one, is 0 or is longer than
 * CS_USAGE_SINCE_MAX_DAYS days.
 */
int cs_usage_parse_since(const char *s, long long *ms);

/*
 * The options after "usage" (argv[0..argc-1]) into o, over the
 * defaults; config_env is $CHATSTREAM_CONFIG (NULL or "": unset).  0, or
 * -1 with one line (no newline) in err.
 */
int cs_usage_parse_args(int argc, char *const argv[], const char *config_env,
    struct cs_usage_opts *o, char *err, size_t errlen);

struct cs_usage_row {
	char *group;
	long long requests, prompt, completion;
};

struct cs_usage_table {
	struct cs_usage_row *rows;
	size_t n, cap;
	int failed; /* a row could not be added (memory, too many) */
};

/* Add one group (a cs_usage_row_fn: ctx is the table).  Failure sets
 * t->failed. */
void cs_usage_table_add(void *ctx, const char *group, long long requests,
    long long prompt_tokens, long long completion_tokens);

/* Order the rows for by: "day" ascending, else by total tokens, most
 * first (equal totals by group). */
void cs_usage_table_sort(struct cs_usage_table *t, const char *by);

/*
 * The table to out: a header (the group's column named after by), one
 * line per row, a rule and the total.  Columns are aligned; an empty
 * group is "(none)" and a control byte in one is printed as "?".
 * 0, or -1 on a write error.
 */
int
cs_usage_table_print(const struct cs_usage_table *t, const char *by, FILE *out);

/* NULL-safe; leaves t zeroed. */
void cs_usage_table_free(struct cs_usage_table *t);

/* The whole command (main.c dispatches argv after "usage"): 0, or 2. */
int cs_usage_main(int argc, char *const argv[], FILE *out, FILE *errf);

#endif
