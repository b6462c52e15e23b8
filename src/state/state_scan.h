/*
 * state_scan.h — what the usage dashboard (src/admin/dashboard.h) reads
 * from the shared store (state.h): every ledger record since a time, and
 * the refusals counted per UTC day and reason, which never become ledger
 * records (a flood of 429s must not grow the ledger).
 *
 * The same rules as state.h: one handle per thread, no clock read here
 * (times are CLOCK_REALTIME ms, the caller's), strings borrowed for the
 * call, CS_EBADINPUT for invalid arguments (then nothing changed),
 * CS_ESTATE when the store cannot be used.
 *
 * Refusal counters: memory keeps CS_STATE_MEM_REFUSALS (day, reason)
 * pairs, the oldest day's dropped for a new one; SQLite a table refusal
 * (day, reason, n), schema version 4; Redis a hash cs:rf:DAY per day
 * (field reason), expiring 400 days after its last count.  Every backend
 * drops the counters of the days cs_state_ledger_purge drops.
 */
#ifndef CS_STATE_SCAN_H
#define CS_STATE_SCAN_H

#include <stddef.h>

#include "cs.h"
#include "state.h"

#define CS_STATE_REASON_MAX   32   /* bytes of a refusal reason */
#define CS_STATE_REFUSAL_DAYS 400  /* days one cs_state_refusals reads */
#define CS_STATE_MEM_REFUSALS 4096 /* (day, reason) pairs, memory */

/* One record; rec and its strings are borrowed for the call. */
typedef void (*cs_ledger_fn)(void *ctx, const struct cs_ledger_rec *rec);

/*
 * fn once for each ledger record with time_ms >= since_ms, in no
 * particular order (strings never NULL: "" when stored empty).  fn must
 * not call into st; it should be quick (the memory backend calls it
 * holding the store's lock, SQLite while its query runs).  Redis reads
 * the latest 400 days that have records, a page at a time.
 */
enum cs_err cs_state_ledger_scan(
    struct cs_state *st, long long since_ms, cs_ledger_fn fn, void *ctx);

/* n (1..CS_STATE_LIMIT_MAX) more refusals for reason
 * (1..CS_STATE_REASON_MAX bytes of [a-z_]) on the UTC day of now_ms. */
enum cs_err cs_state_refusal_add(
    struct cs_state *st, const char *reason, long n, long long now_ms);

/* One (day, reason) counter; day is days since the epoch (UTC), reason
 * borrowed for the call. */
typedef void (*cs_refusal_fn)(
    void *ctx, long long day, const char *reason, long long n);

/*
 * fn once for each counter of the UTC days from since_ms's to until_ms's
 * (at most CS_STATE_REFUSAL_DAYS days, else CS_EBADINPUT), in no
 * particular order.  fn must not call into st.
 */
enum cs_err cs_state_refusals(struct cs_state *st, long long since_ms,
    long long until_ms, cs_refusal_fn fn, void *ctx);

#endif
