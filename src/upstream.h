/*
 * upstream.h — run one provider transfer with libcurl and feed the body to
 * the provider's adapter, while watching the client connection, sending
 * keep-alives, enforcing the timeouts and retrying transient failures
 * before anything reached the client.
 *
 * One struct cs_upstream per worker thread: it keeps a curl multi and easy
 * handle so provider connections are reused across requests.
 */
#ifndef CS_UPSTREAM_H
#define CS_UPSTREAM_H

#include "cs.h"

struct cs_config;
struct cs_provider;
struct cs_chat_request;
struct cs_stream;
struct cs_upstream;

/* NULL on failure.  Call after curl_global_init(). */
struct cs_upstream *cs_upstream_new(void);
/* NULL-safe. */
void cs_upstream_free(struct cs_upstream *u);

/*
 * Stream req through provider p into s, with the endpoint, key, headers,
 * timeouts and retries of req->model->up.  Every outcome is written to s
 * (events, an error event, or an HTTP error); the return value says how it
 * ended (CS_OK, CS_ECLIENTGONE, CS_EUPSTREAM, CS_ETIMEOUT, ...).
 * The number of retries made goes to s (cs_stream_set_retries).
 */
enum cs_err cs_upstream_run(struct cs_upstream *u,
    const struct cs_provider *p, const struct cs_chat_request *req,
    struct cs_stream *s);

#endif
