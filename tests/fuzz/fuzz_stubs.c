/*
 * fuzz_stubs.c — what the fuzz builds leave out.  The provider table
 * (registry.c) lists the demo provider, whose answer goes through the
 * whole stream machinery (stream.c, the encoders, FastCGI); no harness
 * runs it, so its two calls into the stream stand here and abort.  The
 * config's "state" key asks the state store whether a spec is
 * well-formed; no harness reads a config file, so that call aborts too.
 */
#include <stdlib.h>

#include "event.h"
#include "state.h"
#include "stream.h"

enum cs_err
cs_stream_emit(void *ctx, const struct cs_event *ev)
{
	(void)ctx;
	(void)ev;
	abort();
}

enum cs_err
cs_stream_start(struct cs_stream *s)
{
	(void)s;
	abort();
}

enum cs_err
cs_state_spec_check(const char *spec, char *err, size_t errlen)
{
	(void)spec;
	(void)err;
	(void)errlen;
	abort();
}
